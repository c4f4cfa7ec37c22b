package engineio

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

type sockState uint8

const (
	stateOpen    sockState = iota
	stateClosing           // graceful close under way: queue flushes, then close
	stateClosed
)

// Socket is one Engine.IO session. Its methods are safe for concurrent use;
// callbacks registered with OnMessage, OnClose and OnUpgrade may call them.
type Socket struct {
	srv *Server
	id  string
	hs  handshake // immutable

	// dispatchMu serialises OnMessage callbacks (polling POSTs and the
	// websocket reader may both deliver during an upgrade).
	dispatchMu sync.Mutex

	mu           sync.Mutex
	state        sockState
	closeReason  string // for stateClosing
	queue        []*Frame
	cuts         []int    // queue lengths after frames sent with SendAlone: a websocket write ends there; nil when none
	spare        []*Frame // emptied queue array for reuse by the websocket writer
	queued       int64
	poll         *pollTransport // current transport when polling
	ws           *wsTransport   // current transport when websocket
	upgrading    *wsTransport   // websocket being probed, nil if none
	upgraded     bool
	holdQueue    bool        // OnConnection or OnUpgrade handlers running: do not flush yet
	heartbeat    *time.Timer // the next ping, or the pong's deadline while awaitingPong
	beatDue      int64       // when heartbeat is due (Server.clockNow): a stale firing (re-armed while it ran) returns
	awaitingPong bool
	onMessage    func(data []byte, binary bool)
	onClose      []func(reason string, err error)
	onUpgrade    []func()
}

func newSocket(srv *Server, id string, r *http.Request) *Socket {
	return &Socket{srv: srv, id: id, hs: newHandshake(r)}
}

// ID returns the session id.
func (s *Socket) ID() string { return s.id }

// Request returns the handshake request (method, URL, Proto, Header,
// Host, RemoteAddr, RequestURI, TLS), rebuilt from the compact form the
// session keeps: each call returns a new request, the caller's to modify,
// and costs a URL parse and a header map (about 1 µs and 1 KB for a
// browser's headers). Its Body is empty and its context is
// context.Background (the values net/http put in the handshake's context,
// such as http.LocalAddrContextKey, are not kept). To read one part, the
// cheaper RequestHeader, Query, RemoteAddr, RequestURI and TLS.
func (s *Socket) Request() *http.Request { return s.hs.request() }

// RequestHeader returns a new copy of the handshake request's headers.
func (s *Socket) RequestHeader() http.Header { return s.hs.header() }

// RequestHeaderValue returns the first value of the handshake header
// named key (in canonical form, as http.CanonicalHeaderKey returns it),
// "" when absent; it allocates nothing.
func (s *Socket) RequestHeaderValue(key string) string { return s.hs.headerValue(key) }

// Query returns the handshake URL's query, parsed anew on each call.
func (s *Socket) Query() url.Values {
	_, q, _ := strings.Cut(s.hs.uri(), "?")
	v, _ := url.ParseQuery(q)
	return v
}

// RemoteAddr returns the handshake request's RemoteAddr ("ip:port").
func (s *Socket) RemoteAddr() string { return s.hs.remoteAddr() }

// RequestURI returns the handshake's request URI (path and query).
func (s *Socket) RequestURI() string { return s.hs.uri() }

// TLS returns the handshake connection's TLS state, nil for plaintext
// (shared: do not modify).
func (s *Socket) TLS() *tls.ConnectionState { return s.hs.tls }

// Protocol returns the Engine.IO protocol revision, 4.
func (s *Socket) Protocol() int { return 4 }

// Transport returns the current transport: "polling" or "websocket".
func (s *Socket) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transportLocked()
}

func (s *Socket) transportLocked() string {
	if s.ws != nil {
		return TransportWebSocket
	}
	return TransportPolling
}

// OnMessage sets the message handler (one per socket; a later call
// replaces it). It is called serially, in arrival order, from the socket's
// read path (a POST handler or the websocket reader); data is owned by the
// callee. A slow handler delays reading, including pongs, unless it calls
// ReleaseReader (after which the next calls may overlap it).
func (s *Socket) OnMessage(fn func(data []byte, binary bool)) {
	s.mu.Lock()
	s.onMessage = fn
	s.mu.Unlock()
}

// InReaderCallback reports whether an OnMessage callback is running on
// the session's websocket reader (not on a polling request): there a
// callback may do its work inline, because if it must wait for a later
// message of the session it can call ReleaseReader first.
func (s *Socket) InReaderCallback() bool {
	s.mu.Lock()
	t := s.ws
	s.mu.Unlock()
	return t != nil && t.inCallback()
}

// ReleaseReader is for an OnMessage callback running on the websocket
// reader that is about to wait, for instance for an acknowledgement that a
// later message brings: reading goes on at once on a new goroutine, and
// later OnMessage calls may run while the caller's callback still does
// (they stay serial among themselves). It reports whether it released the
// reader; it does nothing when no callback runs on the reader (a polling
// session, or already released). It may be called from any goroutine, on
// behalf of a callback that takes too long.
func (s *Socket) ReleaseReader() bool {
	s.mu.Lock()
	t := s.ws
	s.mu.Unlock()
	return t != nil && t.release()
}

// OnClose adds a close handler. Handlers registered before the session
// closed are called exactly once, in registration order, with the reason
// (as Node's engine.io: "transport close", "transport error", "ping
// timeout", "parse error", "forced close", "server shutting down") and the
// cause, if any. A handler registered after close is never called.
func (s *Socket) OnClose(fn func(reason string, err error)) {
	s.mu.Lock()
	if s.state != stateClosed {
		s.onClose = append(s.onClose, fn)
	}
	s.mu.Unlock()
}

// OnUpgrade adds a handler called after a polling->websocket upgrade
// completed, from the websocket reader.
func (s *Socket) OnUpgrade(fn func()) {
	s.mu.Lock()
	s.onUpgrade = append(s.onUpgrade, fn)
	s.mu.Unlock()
}

// SendFlags modify Send.
type SendFlags uint8

const (
	// SendVolatile drops the frames unless the transport can take them
	// right now (a polling GET is pending, or the websocket writer is
	// idle), as Node's volatile emits.
	SendVolatile SendFlags = 1 << iota
	// SendDeferred never writes on the caller's goroutine: the server's
	// flusher does, on one goroutine per GOMAXPROCS. A broadcast uses it,
	// so that the writes to its many sockets run on every P and, under
	// load, each socket's queued frames go out in one write, rather than
	// one after another on the broadcasting goroutine.
	SendDeferred
	// SendAlone ends a websocket write with the frames: what is queued
	// after them goes out in a later write(2), never batched with them.
	// Socket.IO's CONNECT answer uses it: a client that handles one
	// message per TCP read (the official socket.io-protocol suite's
	// test client, which loses a second message read along with the
	// first) then gets the answer and the event that follows it in
	// separate writes. Polling payloads still carry them together, as
	// Node's do.
	SendAlone
)

// Send queues fs atomically and in order (no other write lands between
// them) and never blocks on the network. Unless SendDeferred is set, a
// websocket whose writer is idle writes them at once on the caller's
// goroutine, as far as the socket takes them without blocking; the rest
// goes to a writer goroutine. It reports whether the frames were queued
// (false: dropped by SendVolatile, or an error). It returns ErrClosed once
// the session is closed or closing. If the queue would exceed
// Options.MaxBufferedBytes, the session closes with reason "transport
// error" (the close callbacks run on another goroutine, so Send may be
// called with locks held) and Send returns ErrBufferFull.
func (s *Socket) Send(fs []*Frame, flags SendFlags) (bool, error) {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return false, ErrClosed
	}
	if flags&SendVolatile != 0 && !s.writableLocked() {
		s.mu.Unlock()
		return false, nil
	}
	var n int64
	for _, f := range fs {
		n += f.size()
	}
	if s.queued+n > s.srv.opts.MaxBufferedBytes {
		s.mu.Unlock()
		err := fmt.Errorf("%w: %d bytes queued", ErrBufferFull, s.queued)
		s.terminateAsync(ReasonTransportError, err)
		return false, ErrBufferFull
	}
	s.queue = append(s.queue, fs...)
	s.queued += n
	if flags&SendAlone != 0 {
		s.cuts = append(s.cuts, len(s.queue))
	}
	if flags&SendDeferred != 0 {
		s.flushLocked()
		s.mu.Unlock()
	} else {
		s.flushUnlock()
	}
	return true, nil
}

// writableLocked reports whether the transport can take a frame right now.
func (s *Socket) writableLocked() bool {
	if len(s.queue) > 0 {
		return false
	}
	switch {
	case s.ws != nil:
		return !s.ws.writing
	case s.poll != nil:
		return s.poll.get != nil
	}
	return true
}

// Write is Send of one frame without flags.
func (s *Socket) Write(f *Frame) error {
	_, err := s.Send([]*Frame{f}, 0)
	return err
}

// WriteBatch is Send without flags.
func (s *Socket) WriteBatch(fs []*Frame) error {
	_, err := s.Send(fs, 0)
	return err
}

// WriteVolatile is Send of one frame with SendVolatile; it reports whether
// f was queued.
func (s *Socket) WriteVolatile(f *Frame) bool {
	ok, _ := s.Send([]*Frame{f}, SendVolatile)
	return ok
}

// takeQueueLocked removes and returns the queued frames.
func (s *Socket) takeQueueLocked() []*Frame {
	q := s.queue
	s.queue, s.spare = s.spare, nil
	s.queued = 0
	s.cuts = nil
	return q
}

// takeWriteLocked removes and returns the queued frames one websocket
// write carries: all of them, or those up to the first cut (SendAlone).
// alone reports that the frames end at a cut.
func (s *Socket) takeWriteLocked() (frames []*Frame, alone bool) {
	if len(s.cuts) == 0 || s.cuts[0] > len(s.queue) {
		return s.takeQueueLocked(), false
	}
	if s.cuts[0] == len(s.queue) {
		return s.takeQueueLocked(), true
	}
	n := s.cuts[0]
	s.cuts = s.cuts[1:]
	for i := range s.cuts {
		s.cuts[i] -= n
	}
	if len(s.cuts) == 0 {
		s.cuts = nil
	}
	head := s.queue[:n:n]
	// The rest moves to an array of its own: head's goes back to spare
	// once written (recycleLocked).
	s.queue = append([]*Frame(nil), s.queue[n:]...)
	for _, f := range head {
		s.queued -= f.size()
	}
	return head, true
}

// recycleLocked keeps the array of a written batch for the next queue.
func (s *Socket) recycleLocked(q []*Frame) {
	if cap(q) <= 64 && s.state != stateClosed {
		clear(q)
		s.spare = q[:0]
	}
}

// flushUnlock is flushLocked, then releases mu; a websocket write it
// starts runs on the calling goroutine (without blocking, see
// wsTransport.run).
func (s *Socket) flushUnlock() {
	if t := s.ws; t != nil && s.state != stateClosed && !s.holdQueue && len(s.queue) > 0 && t.claimLocked() {
		s.mu.Unlock()
		t.run(true)
		return
	}
	s.flushLocked()
	s.mu.Unlock()
}

// flushLocked hands the queue to the transport if it is writable.
func (s *Socket) flushLocked() {
	if s.state == stateClosed || s.holdQueue || len(s.queue) == 0 {
		return
	}
	if s.ws != nil {
		s.ws.kickLocked()
		return
	}
	if s.poll != nil {
		s.poll.flushLocked()
	}
}

// Close closes the session gracefully: what is queued is sent, then a close
// packet over polling (a close frame over websocket, as Node), then the
// transport closes; OnClose gets "forced close". It is idempotent and
// returns at once (close callbacks never run on the caller's goroutine); it
// always returns nil.
func (s *Socket) Close() error {
	s.closeGraceful(ReasonForcedClose)
	return nil
}

// closeGraceful starts Node's Socket.close(): state closing, flush, close.
func (s *Socket) closeGraceful(reason string) {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return
	}
	s.state = stateClosing
	s.closeReason = reason
	var done bool
	if s.ws != nil {
		s.ws.closeAfterFlushLocked()
	} else if s.poll != nil {
		done = s.poll.closeLocked()
	}
	s.mu.Unlock()
	if done {
		s.terminateAsync(reason, nil)
	}
}

// schedulePingLocked arms the heartbeat for the next ping, pingInterval
// from now (Node's schedulePing): at the handshake and on each pong. One
// timer serves a session's pings and pong deadlines.
func (s *Socket) schedulePingLocked() {
	s.awaitingPong = false
	s.armHeartbeatLocked(s.srv.opts.PingInterval)
}

// armHeartbeatLocked arms the heartbeat d from now, rounded up to the
// server's next multiple of its beatGrain (Server.clockNow), so that the
// heartbeats of many sessions fall due together: the runtime fires them in
// one wakeup, and their pongs come back in a burst that the poller takes
// in few waits. A ping or a timeout is up to a grain late, never early;
// with a grain of 1 (short intervals) the timer is exact.
func (s *Socket) armHeartbeatLocked(d time.Duration) {
	now, g := s.srv.clockNow(), s.srv.beatGrain
	due := (now + int64(d) + g - 1) / g * g
	s.beatDue = due
	if s.heartbeat == nil {
		s.heartbeat = time.AfterFunc(time.Duration(due-now), s.onHeartbeat)
		return
	}
	s.heartbeat.Reset(time.Duration(due - now))
}

// onHeartbeat runs on the heartbeat timer's goroutine. Awaiting a pong,
// the session timed out; otherwise it queues a ping, arms the pong's
// deadline and, when the websocket's writer is idle, writes the ping
// there and then (no hop to the flusher: pings of idle sessions are most
// of what an idle server does). A firing the timer was re-armed past
// (a pong came while it waited for the lock) does nothing.
func (s *Socket) onHeartbeat() {
	s.mu.Lock()
	if s.state != stateOpen || s.srv.clockNow() < s.beatDue {
		s.mu.Unlock()
		return
	}
	if s.awaitingPong {
		s.mu.Unlock()
		s.terminate(ReasonPingTimeout, nil)
		return
	}
	s.awaitingPong = true
	s.armHeartbeatLocked(s.srv.opts.PingTimeout)
	s.queue = append(s.queue, framePing)
	s.queued += framePing.size()
	s.flushUnlock()
}

// onPacket handles one packet from the client on the current transport. It
// reports false when the session closed because of it. rd is the websocket
// reader delivering p (nil on polling); it returns with released set when
// ReleaseReader moved reading to another goroutine during the callback.
func (s *Socket) onPacket(p packet, rd *wsReader) bool {
	switch p.typ {
	case typeMessage:
		s.mu.Lock()
		fn := s.onMessage
		closed := s.state == stateClosed
		s.mu.Unlock()
		if closed {
			return false
		}
		if fn != nil {
			// p.data is never reused by the read paths (a fresh websocket
			// message, or a capped record of a fresh POST body): the callee
			// owns it without a copy.
			s.dispatchMu.Lock()
			if rd == nil {
				fn(p.data, p.binary)
				s.dispatchMu.Unlock()
				break
			}
			rd.state.Store(readerInCallback)
			fn(p.data, p.binary)
			if !rd.state.CompareAndSwap(readerInCallback, readerReading) {
				return true // released: dispatchMu was handed on with the reading
			}
			s.dispatchMu.Unlock()
		}
	case typePong:
		s.mu.Lock()
		if s.state != stateClosed {
			s.schedulePingLocked()
		}
		s.mu.Unlock()
	case typePing:
		s.terminate(ReasonTransportError, ErrHeartbeatDirection)
		return false
	case typeClose:
		s.terminate(ReasonTransportClose, nil)
		return false
	}
	return true
}

// terminate is Node's Socket.onClose: it closes the session at once,
// discards the queue, closes the transports, removes the session from the
// server and runs the close callbacks on the calling goroutine. Idempotent.
func (s *Socket) terminate(reason string, err error) {
	if cbs, ok := s.shut(reason); ok {
		s.finish(reason, err, cbs)
	}
}

// terminateAsync is terminate for paths called by user code (Write,
// Socket.Close), which may hold locks the close callbacks take: the session
// is closed before it returns, the callbacks run on a new goroutine.
func (s *Socket) terminateAsync(reason string, err error) {
	if cbs, ok := s.shut(reason); ok {
		go s.finish(reason, err, cbs)
	}
}

// shut moves the session to closed and closes its transports; it returns
// the close callbacks and false if it was already closed.
func (s *Socket) shut(reason string) ([]func(string, error), bool) {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return nil, false
	}
	s.state = stateClosed
	if s.heartbeat != nil {
		s.heartbeat.Stop()
	}
	s.queue, s.cuts = nil, nil
	s.queued = 0
	if s.upgrading != nil {
		s.upgrading.abortLocked()
		s.upgrading = nil
	}
	if s.poll != nil {
		s.poll.terminateLocked(reason)
	}
	if s.ws != nil {
		s.ws.closeLocked()
	}
	cbs := s.onClose
	s.onClose = nil
	s.mu.Unlock()
	s.srv.remove(s)
	return cbs, true
}

// finish logs and runs the close callbacks, then Options.OnSessionClose.
func (s *Socket) finish(reason string, err error, cbs []func(string, error)) {
	s.srv.logger.Debug("session closed", "sid", s.id, "reason", reason, "error", err)
	for _, fn := range cbs {
		fn(reason, err)
	}
	if fn := s.srv.opts.OnSessionClose; fn != nil {
		fn(s.id, reason)
	}
}
