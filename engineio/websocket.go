package engineio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// wsReadBufferSize is the read buffer handed to gorilla at the upgrade
// (gorilla adopts a hijacked reader only if it is larger than 256 bytes).
// A connection without raw reads (TLS, other OSes) keeps it for its life;
// messages larger than it are read straight into their destination.
const wsReadBufferSize = 512

// wsFrameBufSize is the read buffer a connection with raw reads (Linux)
// holds for its life, idle or not: gorilla reads a frame header (2 bytes,
// then 2 or 8 of length, then the 4-byte mask) and a control frame's
// payload (up to 125 bytes) with one Peek each, which must fit in it.
// Everything else is read through its connReader's pooled buffer.
const wsFrameBufSize = 128

// wsReadChunk is the size of the pooled buffers (Server.readChunks) a
// connReader reads the socket into while it has bytes; larger reads go
// straight into their destination.
const wsReadChunk = 4096

// wsCloseGrace is how long a closing websocket waits for the client's close
// frame before the connection is dropped.
const wsCloseGrace = 2 * time.Second

// wsTransport is a websocket connection of a Socket: the current transport,
// or one being probed for an upgrade.
//
// Reading: gorilla/websocket, on the reader goroutine (the handshake
// handler returns, so net/http's buffers for that request are released).
//
// Writing: the transport frames what it sends itself (server frames are
// unmasked and uncompressed) and writes a whole batch with one write or
// writev; a payload of more than copyMax bytes is never copied (see
// wsBatch). Whoever holds the write token (writing) writes: a caller of
// Socket.Write whose frame finds the token free takes it and writes at
// once without blocking; a deferred send, a pong or a close frame is
// written by the server's flusher (see flusher), the same way. Only what
// the socket does not take goes to a writer goroutine of the transport,
// which exists while bytes wait and batches everything queued meanwhile.
// Nothing else writes to the connection once the transport exists:
// gorilla's ping and close handlers are replaced so that pongs and close
// frames go through the token too.
// (gorilla still writes a close frame itself when it rejects a client
// frame, a protocol error or an oversized message; the connection ends
// then anyway.)
// Inline writes need raw system calls on the fd (Linux, see
// wsbatch_linux.go); on other OSes, and for TLS, every batch is written by
// the writer goroutine with the conn's own Write (wsbatch_other.go).
//
// Fields other than conn, nc, rc and reader are guarded by the socket's
// mu; batch belongs to the token holder.
type wsTransport struct {
	s    *Socket
	conn *websocket.Conn
	nc   net.Conn        // conn's connection, which the token holder writes
	rc   syscall.RawConn // rawConnOf(nc): nil without raw writes (TLS, not Linux): no writes inline

	writing      bool     // the write token is taken
	closing      bool     // graceful close: close once the queue drained
	closed       bool     // no more frames; a close frame goes out
	closeQueued  bool     // the close frame is in a batch
	closeCode    []byte   // close frame payload: the client's code echoed, or empty
	ctrl         []*Frame // frames of the transport itself (probe pong), first
	pong         []byte   // payload of the client's latest websocket ping
	pongDue      bool     // pong is to be sent
	readerDone   bool     // the last reader returned
	closeWritten bool     // the close frame was written (or failed)
	upgradeTimer *time.Timer

	reader atomic.Pointer[wsReader] // the goroutine reading now

	// Reading, owned by the reader of the moment (one at a time: a
	// released reader's successor, a parked reader's, start after it).
	br       *bufio.Reader // the upgrader's read buffer (ours: see ownReader); nil: never park
	in       connReader    // what br reads when fd >= 0 (Linux: see wsread_linux.go)
	fd       int           // the socket's fd while open, -1 without raw access: never park
	probing  bool          // an upgrade candidate
	draining bool          // done with the connection: read and discard until the close frame
	parked   bool          // in the server's readPoller, no reader (guarded by s.mu)
	pollGen  uint64        // the readPoller's gen while fd is in its epoll set (guarded by its mu)

	deadlineSet bool   // a write deadline is set (token holder's)
	idleUntil   int64  // Server.clockNow of the idle read deadline set (guarded by s.mu); 0: none of ours
	shard       uint32 // its flusher shard
	batchAlone  bool   // the batch ends at a SendAlone cut (token holder's)
	aloneUntil  int64  // Server.clockNow: no write starts before (aloneGap after a SendAlone write); 0: none

	batch wsBatch
}

// wsReader is one goroutine's turn at reading a wsTransport; ReleaseReader
// ends it early and starts the next.
type wsReader struct {
	state atomic.Int32 // readerReading, readerInCallback, readerReleased
}

const (
	readerReading    = iota
	readerInCallback // in an OnMessage callback, holding the socket's dispatchMu
	readerReleased   // ReleaseReader took over: another goroutine reads
)

// newWSTransport makes the transport of conn, whose read buffer is br
// (nil if unknown: the transport never parks then). With raw access to
// the socket, br is replaced in place (gorilla holds it, nothing was read
// through it yet) by a reader of wsFrameBufSize over t's connReader, which
// holds a larger buffer only while bytes wait in it.
func newWSTransport(s *Socket, conn *websocket.Conn, br *bufio.Reader) *wsTransport {
	conn.SetReadLimit(s.srv.opts.MaxHTTPBufferSize)
	t := &wsTransport{s: s, conn: conn, nc: conn.NetConn(), shard: s.srv.flush.shardFor(), fd: -1}
	t.rc = rawConnOf(t.nc)
	if br != nil && t.rc != nil && br.Buffered() == 0 {
		t.br, t.fd = br, socketFD(t.rc)
		t.in.init(t.rc, &s.srv.readChunks, t)
		*br = *bufio.NewReaderSize(&t.in, wsFrameBufSize)
	}
	conn.SetPingHandler(t.onPing)
	conn.SetCloseHandler(t.onCloseFrame)
	return t
}

// onPing answers a websocket ping of the client (reader goroutine).
func (t *wsTransport) onPing(data string) error {
	t.s.mu.Lock()
	if !t.closed {
		t.pong, t.pongDue = []byte(data), true
		t.kickLocked()
	}
	t.s.mu.Unlock()
	return nil
}

// onCloseFrame records the client's close code so that our close frame
// echoes it (RFC 6455 §5.5.1); the read then fails and closes the session.
func (t *wsTransport) onCloseFrame(code int, _ string) error {
	t.s.mu.Lock()
	if code != websocket.CloseNoStatusReceived {
		t.closeCode = websocket.FormatCloseMessage(code, "")
	}
	t.s.mu.Unlock()
	return nil
}

// writeTimeout bounds a blocking websocket write.
func (t *wsTransport) writeTimeout() time.Duration {
	o := &t.s.srv.opts
	return o.PingInterval + o.PingTimeout
}

// claimLocked takes the write token unless someone holds it or the close
// frame is out; the caller must then run (run(true) after releasing mu), or
// hand the token to the flusher (kickLocked).
func (t *wsTransport) claimLocked() bool {
	if t.writing || t.closeQueued {
		return false
	}
	t.writing = true
	return true
}

// aloneGap is how long the frames that follow a SendAlone write wait
// before their own write. Separate writes alone do not keep a client from
// reading two messages in one read(2) when the second arrives a few
// microseconds after the first (on loopback, ours came 15-45 µs apart);
// a client that handles one message per TCP read (the socket.io-protocol
// suite's) then loses the second. Node's engine.io writes the next frame
// from the first one's write callback, a turn of its event loop later
// (70-175 µs measured). The gap costs only the first event after a
// Socket.IO CONNECT answer, once per namespace connection.
const aloneGap = 250 * time.Microsecond

// holdAloneLocked, called by the token's holder with nothing in its batch,
// keeps the token while the gap after a SendAlone write lasts: a timer
// runs the writer when it ends. It reports false (write now) once the gap
// is over or the transport closed.
func (t *wsTransport) holdAloneLocked() bool {
	d := time.Duration(t.aloneUntil - t.s.srv.clockNow())
	if d <= 0 || t.closed {
		t.aloneUntil = 0
		return false
	}
	time.AfterFunc(d, func() { t.run(false) })
	return true
}

// kickLocked hands the write to the server's flusher unless the token is
// taken.
func (t *wsTransport) kickLocked() {
	if t.claimLocked() {
		t.s.srv.flush.add(t)
	}
}

// sendUnlock queues a frame of the transport itself (ahead of the
// session's queue), then releases mu; the write starts on the calling
// goroutine when the token is free.
func (t *wsTransport) sendUnlock(f *Frame) {
	if !t.closed {
		t.ctrl = append(t.ctrl, f)
		if t.claimLocked() {
			t.s.mu.Unlock()
			t.run(true)
			return
		}
	}
	t.s.mu.Unlock()
}

// closeAfterFlushLocked makes the writer close the session once the queue
// is drained.
func (t *wsTransport) closeAfterFlushLocked() {
	t.closing = true
	t.kickLocked()
}

// collectLocked fills batch with what is due: a pong, the transport's own
// frames, the session's queue (when t is its transport) and, once closed,
// the close frame. It reports false when there is nothing to write.
func (t *wsTransport) collectLocked() bool {
	s, b := t.s, &t.batch
	if t.closed {
		if t.closeQueued {
			return false
		}
		t.closeQueued = true
		b.add(opClose, 0, false, t.closeCode)
		return true
	}
	if t.pongDue {
		t.pongDue = false
		b.add(opPong, 0, false, t.pong)
	}
	var frames []*Frame
	if s.ws == t && !s.holdQueue {
		frames, t.batchAlone = s.takeWriteLocked()
	}
	b.addFrames(t.ctrl, frames)
	clear(t.ctrl)
	t.ctrl = t.ctrl[:0]
	b.frames = frames
	return b.pending()
}

// run writes while there is something to write, then releases the token.
// inline is true on the goroutine of a Socket.Write caller: it writes only
// what the socket takes without blocking and hands the rest to a writer
// goroutine, and it never runs close callbacks (the caller may hold locks
// they take).
func (t *wsTransport) run(inline bool) {
	s := t.s
	for {
		s.mu.Lock()
		if t.aloneUntil != 0 && !t.batch.pending() && t.holdAloneLocked() {
			s.mu.Unlock()
			return // the token goes with the gap's timer
		}
		if !t.batch.pending() && !t.collectLocked() {
			t.writing = false
			t.recycleLocked()
			if t.deadlineSet && !t.closed {
				_ = t.nc.SetWriteDeadline(time.Time{}) // writes at once set none
				t.deadlineSet = false
			}
			closing := t.closing && !t.closed
			reason := s.closeReason
			s.mu.Unlock()
			if closing {
				t.end(reason, nil, inline)
			}
			return
		}
		closeFrame := t.closeQueued && !t.closeWritten
		s.mu.Unlock()

		// First what the socket takes at once; only a full socket makes a
		// writer wait, under a deadline.
		err := t.batch.tryWrite(t.rc)
		if err == errWouldBlock {
			if inline {
				go t.run(false) // the token goes with it
				return
			}
			s.mu.Lock()
			// Under mu, so that closeLocked's shorter deadline wins.
			deadline := time.Now().Add(t.writeTimeout())
			if t.closed {
				deadline = time.Now().Add(wsCloseGrace)
			}
			_ = t.nc.SetWriteDeadline(deadline)
			t.deadlineSet = true
			s.mu.Unlock()
			err = t.batch.writeAll(t.nc, t.rc)
		}
		if closeFrame {
			t.batch.reset()
			t.closeDone()
			if err == nil {
				s.mu.Lock()
				t.idleUntil = 0 // the grace replaces the idle deadline
				_ = t.nc.SetReadDeadline(time.Now().Add(wsCloseGrace))
				s.mu.Unlock()
			}
			continue // releases the token
		}
		if err != nil {
			t.batch.reset()
			s.mu.Lock()
			t.writing = false
			queuedClose := t.closed && !t.closeQueued
			if queuedClose {
				t.closeQueued = true
			}
			s.mu.Unlock()
			if queuedClose {
				t.closeDone() // no close frame on a broken connection
			}
			t.writeFailed(fmt.Errorf("engineio: websocket write: %w", err), inline)
			return
		}
		s.mu.Lock()
		if t.batchAlone {
			t.batchAlone = false
			t.aloneUntil = t.s.srv.clockNow() + int64(aloneGap)
		}
		t.recycleLocked()
		s.mu.Unlock()
	}
}

// writeFailed ends what t carries after a write error: the session when t
// is its transport, else the upgrade t was probing. inline: as run.
func (t *wsTransport) writeFailed(err error, inline bool) {
	s := t.s
	s.mu.Lock()
	current := s.ws == t
	s.mu.Unlock()
	if !current {
		s.abortUpgrade(t)
		return
	}
	t.end(ReasonTransportError, err, inline)
}

// end terminates the session from the writer: inline (on a Send caller's
// goroutine) the close callbacks run on another goroutine.
func (t *wsTransport) end(reason string, err error, inline bool) {
	if inline {
		t.s.terminateAsync(reason, err)
		return
	}
	t.s.terminate(reason, err)
}

// recycleLocked returns a written batch's queue array to the session and
// empties the batch.
func (t *wsTransport) recycleLocked() {
	if !t.batch.pending() {
		if t.batch.frames != nil {
			t.s.recycleLocked(t.batch.frames)
		}
		t.batch.reset()
	}
}

// closeLocked closes the transport: a close frame goes out (empty, as Node's
// ws close(), or echoing the client's code), then the reader drops the
// connection when the client answers or after wsCloseGrace.
func (t *wsTransport) closeLocked() {
	if t.closed {
		return
	}
	t.closed = true
	clear(t.ctrl)
	t.ctrl, t.pongDue = nil, false
	if t.upgradeTimer != nil {
		t.upgradeTimer.Stop()
	}
	if t.parked && t.s.srv.readPoll.unpark(t, t.fd) {
		t.parked = false
		go t.read() // it reads the client's close frame, or times out
	}
	// A writer blocked on a stuck client gives up within the grace.
	_ = t.nc.SetWriteDeadline(time.Now().Add(wsCloseGrace))
	t.kickLocked()
}

// abortLocked closes a websocket that was being probed.
func (t *wsTransport) abortLocked() { t.closeLocked() }

// closeDone records that the close frame was written (or could not be);
// readerExit that the last reader returned. The second of the two closes
// the connection.
func (t *wsTransport) closeDone()  { t.halfDone(&t.closeWritten) }
func (t *wsTransport) readerExit() { t.halfDone(&t.readerDone) }

func (t *wsTransport) halfDone(flag *bool) {
	t.s.mu.Lock()
	*flag = true
	last := t.readerDone && t.closeWritten
	t.s.mu.Unlock()
	if last {
		t.nc.Close()
	}
}

// release makes a new goroutine the reader when the current one is in an
// OnMessage callback (see Socket.ReleaseReader). It reports whether it did.
func (t *wsTransport) release() bool {
	rd := t.reader.Load()
	if rd == nil || !rd.state.CompareAndSwap(readerInCallback, readerReleased) {
		return false
	}
	t.s.dispatchMu.Unlock() // on behalf of the callback, which no longer holds it
	go t.read()
	return true
}

// inCallback reports whether the reader is in an OnMessage callback.
func (t *wsTransport) inCallback() bool {
	rd := t.reader.Load()
	return rd != nil && rd.state.Load() == readerInCallback
}

// readLoop starts reading t; probing is true for an upgrade candidate.
func (t *wsTransport) readLoop(probing bool) {
	t.probing = probing
	t.read()
}

// read reads packets until the connection ends, or until it idles: then
// (Linux) it parks t in the server's readPoller and returns, and the
// poller starts the next reader when bytes arrive. Once the session (or
// the candidate) is done with the connection, it keeps reading and
// discarding until the client's close frame or the close grace deadline.
// A reader released during a callback returns after it, leaving the
// connection to its successor.
func (t *wsTransport) read() {
	rd := t.reader.Load()
	if rd == nil || rd.state.Load() == readerReleased {
		rd = &wsReader{}
		t.reader.Store(rd)
	}
	parked := false
	defer func() {
		if !parked && rd.state.Load() != readerReleased {
			t.readerExit()
		}
	}()
	s := t.s
	for {
		if t.mayPark() && !t.waitReadable() && t.park() {
			parked = true
			return
		}
		mt, data, err := t.readMessage()
		if err != nil {
			if !t.draining {
				t.fail(classifyReadError(err))
			}
			return
		}
		if t.draining {
			continue
		}
		var p packet
		if mt == websocket.BinaryMessage {
			p = packet{typ: typeMessage, binary: true, data: data}
		} else {
			if !utf8.Valid(data) {
				t.fail(ReasonTransportError, fmt.Errorf("%w: invalid UTF-8 in text frame", ErrBadPacket))
				continue
			}
			if p, err = decodePacket(data); err != nil {
				t.fail(ReasonParseError, err)
				continue
			}
		}
		if t.probing {
			var ok bool
			if t.probing, ok = s.onProbePacket(t, p); !ok {
				t.draining = true
			}
			continue
		}
		if !s.onPacket(p, rd) {
			t.draining = true
		}
		if rd.state.Load() == readerReleased {
			return
		}
	}
}

// fail ends what the reader reads for: the session, or the upgrade it
// probes; the reader drains from then on.
func (t *wsTransport) fail(reason string, err error) {
	t.draining = true
	if t.probing {
		t.s.abortUpgrade(t)
		return
	}
	t.s.terminate(reason, err)
}

// mayPark reports whether the reader could park now: a session's open
// websocket with a raw fd, nothing left in the read buffers (gorilla's
// and the connReader's: a message there would wait for bytes that may
// never come).
func (t *wsTransport) mayPark() bool {
	return t.fd >= 0 && !t.probing && !t.draining && t.br.Buffered() == 0 && t.in.Buffered() == 0
}

// waitReadable waits until the socket has bytes and reads them into the
// connReader's pooled buffer (or meets an EOF, an error, which the next
// read sees again) and reports true, or false after at least half the
// server's idleAfter without any: nothing is read or held then. It waits
// through the runtime poller, on a shallow stack.
//
// The idle deadline stays set after the wait (a busy connection re-arms
// it at most once per half idleAfter, not twice per message); a read in
// the middle of a message that meets it lifts it and reads on
// (liftIdleDeadline).
func (t *wsTransport) waitReadable() bool {
	s := t.s
	s.mu.Lock()
	if t.closed { // closing sets its own read deadline: leave it
		s.mu.Unlock()
		return true
	}
	idle := int64(s.srv.idleAfter)
	if now := s.srv.clockNow(); t.idleUntil-now < idle/2 {
		t.idleUntil = now + idle
		_ = t.nc.SetReadDeadline(time.Now().Add(s.srv.idleAfter))
	}
	s.mu.Unlock()
	err := t.in.fill()
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// liftIdleDeadline clears the read deadline when it is waitReadable's
// idle one and reports true (the read that met it reads on); false: the
// deadline is the close grace's (or no deadline of ours).
func (t *wsTransport) liftIdleDeadline() bool {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	if t.idleUntil == 0 {
		return false
	}
	t.idleUntil = 0
	_ = t.nc.SetReadDeadline(time.Time{})
	return true
}

// park hands t to the server's readPoller and reports true, after which
// the reader returns; false: the reader reads on (closed, or no poller).
func (t *wsTransport) park() bool {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.closed || !s.srv.readPoll.park(t, t.fd) {
		return false
	}
	t.parked = true
	return true
}

// resume starts a reader for t, which the readPoller unparked.
func (t *wsTransport) resume() {
	t.s.mu.Lock()
	t.parked = false
	t.s.mu.Unlock()
	go t.read()
}

// readMessage reads the next message and returns it in a slice of exactly
// its size, which the caller owns.
func (t *wsTransport) readMessage() (int, []byte, error) {
	mt, r, err := t.conn.NextReader()
	if err != nil {
		return 0, nil, err
	}
	bufs := &t.s.srv.msgBufs
	bp := bufs.Get().(*[]byte)
	b := (*bp)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		var n int
		n, err = r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			break
		}
	}
	var data []byte
	if err == io.EOF {
		err = nil
		data = make([]byte, len(b))
		copy(data, b)
	}
	if cap(b) <= 64<<10 {
		*bp = b[:0] // keep a modest buffer; drop a huge one
		bufs.Put(bp)
	}
	return mt, data, err
}

// rejectWebSocket closes a websocket the server will not use, with a close
// handshake as Node's ws close().
func rejectWebSocket(conn *websocket.Conn) {
	deadline := time.Now().Add(wsCloseGrace)
	_ = conn.WriteControl(websocket.CloseMessage, []byte{}, deadline)
	_ = conn.SetReadDeadline(deadline)
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			break
		}
	}
	conn.Close()
}

// classifyReadError maps a read error to Node's close reason: the peer
// closing or dropping the connection is "transport close", anything else
// (oversized or malformed frames) "transport error".
func classifyReadError(err error) (string, error) {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		return ReasonTransportError, fmt.Errorf("%w: %v", ErrPayloadTooLarge, err)
	case errors.As(err, &ce), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.As(err, &ne):
		return ReasonTransportClose, err
	}
	return ReasonTransportError, err
}

// ownReader is the ResponseWriter a websocket handshake is upgraded
// through: its Hijack hands the upgrader a read buffer of ours (br, of
// wsReadBufferSize), which the upgrader reads the connection through (its
// ReadBufferSize is 0), so that a reader can tell whether a message waits
// in it before it parks; newWSTransport makes it a small one over the
// transport's connReader when the socket has a raw fd.
type ownReader struct {
	http.ResponseWriter
	br *bufio.Reader
}

// errNoHijack: the ResponseWriter cannot hand over its connection.
var errNoHijack = errors.New("engineio: response does not implement http.Hijacker")

// Hijack hijacks the connection, with br as its reader.
func (w *ownReader) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errNoHijack
	}
	c, brw, err := h.Hijack()
	if err != nil || brw.Reader.Buffered() > 0 { // the upgrader refuses the latter
		return c, brw, err
	}
	w.br = bufio.NewReaderSize(c, wsReadBufferSize)
	return c, bufio.NewReadWriter(w.br, brw.Writer), nil
}
