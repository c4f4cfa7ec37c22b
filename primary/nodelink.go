package primary

import (
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/nodeipc"
	"golang.org/x/sys/unix"
)

// workerLink is how the primary talks to a worker: the control link of a
// Go worker (*ipc.ControlConn) or the IPC channel of a Node one
// (*nodeLink). Send and TrySend are safe for concurrent use; fd stays the
// caller's.
type workerLink interface {
	Send(m *ipc.Message, fd int) error
	TrySend(m *ipc.Message, fd int) error
	SetWriteDeadline(t time.Time) error
	Close() error
}

var _ workerLink = (*ipc.ControlConn)(nil)

// errNodeQueueFull: a Node worker has nodeMaxQueued connections waiting
// for their hand-off; the next one is closed.
var errNodeQueueFull = errors.New("primary: node worker's hand-off queue is full")

// errNodeOutFull: a Node worker does not read its channel; it is cut.
var errNodeOutFull = errors.New("primary: node worker does not read its IPC channel")

// nodeMaxQueued bounds the connections queued for one Node worker.
const nodeMaxQueued = 4096

// nodeMaxOut bounds the bytes of adapter messages queued for one Node
// worker; past it the worker is a slow consumer and is restarted.
const nodeMaxOut = 64 << 20

// nodeNackRetries is how often a NACKed handle is sent again (Node's own
// parent retries 3 times).
const nodeNackRetries = 3

// stickyConnection is the message a handle travels with: what
// @socket.io/sticky's primary sends. data is what the primary consumed of
// the connection (the request head of a TLS relay, or the request a
// worker handed back), usually nothing: the primary only peeks, so the
// request is still in the socket. It is a Buffer in advanced mode; in
// json mode a string (a Buffer's JSON form when the bytes are not UTF-8,
// which only sticky 1.x reads). id, the connection's id, goes as
// stickydConn (sticky ignores it): the preload names it when it hands the
// connection back, so that a TLS relay's or another host's connection is
// known again.
func stickyConnection(mode nodeipc.Mode, prefix []byte, id uint64) map[string]any {
	var data any = ""
	switch {
	case len(prefix) == 0:
	case mode == nodeipc.Advanced:
		data = prefix
	case utf8.Valid(prefix):
		data = string(prefix)
	default:
		bytes := make([]any, len(prefix))
		for i, b := range prefix {
			bytes[i] = int(b)
		}
		data = map[string]any{"type": "Buffer", "data": bytes}
	}
	m := map[string]any{"type": "sticky:connection", "data": data}
	if id != 0 {
		m["stickydConn"] = float64(id)
	}
	return m
}

// handoff is a connection waiting for its hand-off.
type handoff struct {
	fd     int
	prefix []byte
	id     uint64 // the primary's connection id
}

// flight is the handle sent to the worker and not yet answered.
type flight struct {
	h     handoff
	tries int         // NACKs so far
	timer *time.Timer // kills the worker when no answer comes in time
}

// nodeLink is the primary's end of one Node worker's IPC channel. It
// implements workerLink: a Conn message queues the connection's fd (a
// dup). One handle is in flight at a time: the hand-off goroutine sends a
// handle when none is, and the channel's reader, on the worker's ACK,
// sends the next queued one at once. Drain sends SIGTERM; Retire does
// nothing. Adapter messages for the worker go through their own queue and
// writer goroutine, so neither queue waits for the other.
type nodeLink struct {
	conn *nodeipc.Conn
	proc *process
	// reroute takes a queued connection the worker never got (its fd, the
	// primary's dup, whose request is still unread) when the link closes.
	reroute    func(fd int)
	ackTimeout time.Duration
	log        hclog.Logger
	// done is called once per handle with its outcome (ACKed or not),
	// with no lock held.
	done func(acked bool)

	mu       sync.Mutex
	cond     *sync.Cond
	handles  []handoff // connections waiting for their hand-off (our dups)
	inflight *flight   // the handle sent and not yet answered
	stopped  bool      // a send failed or the worker timed out: no more sends
	out      [][]byte  // adapter message bodies waiting to be written
	outSize  int
	closed   bool
}

// newNodeLink makes the link of conn to proc; see nodeLink for the
// arguments.
func newNodeLink(conn *nodeipc.Conn, proc *process, reroute func(fd int), ackTimeout time.Duration, log hclog.Logger, done func(acked bool)) *nodeLink {
	l := &nodeLink{conn: conn, proc: proc, reroute: reroute, ackTimeout: ackTimeout, log: log, done: done}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// Send implements workerLink; it never blocks.
func (l *nodeLink) Send(m *ipc.Message, fd int) error {
	switch m.Type {
	case ipc.MsgConn:
		return l.queueHandle(fd, m.Prefix, m.ConnID)
	case ipc.MsgDrain:
		l.proc.Terminate()
		return nil
	}
	return nil // Retire and the rest mean nothing to a Node worker
}

// TrySend implements workerLink: Send never blocks.
func (l *nodeLink) TrySend(m *ipc.Message, fd int) error { return l.Send(m, fd) }

// SetWriteDeadline implements workerLink.
func (l *nodeLink) SetWriteDeadline(t time.Time) error { return l.conn.SetWriteDeadline(t) }

// Close closes the channel and ends the link's goroutines. Queued
// connections the worker never got go to reroute when nothing of them was
// consumed (no prefix), and are closed otherwise. Idempotent.
func (l *nodeLink) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	queued := l.handles
	l.handles, l.out = nil, nil
	l.cond.Broadcast()
	l.mu.Unlock()
	err := l.conn.Close()
	for _, h := range queued {
		if len(h.prefix) == 0 && l.reroute != nil {
			l.reroute(h.fd)
		} else {
			unix.Close(h.fd)
		}
	}
	return err
}

func (l *nodeLink) queueHandle(fd int, prefix []byte, id uint64) error {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("primary: dup: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.closed:
		unix.Close(dup)
		return ipc.ErrClosed
	case len(l.handles) >= nodeMaxQueued:
		unix.Close(dup)
		return errNodeQueueFull
	}
	l.handles = append(l.handles, handoff{dup, append([]byte(nil), prefix...), id})
	l.cond.Broadcast()
	return nil
}

// SendAdapterBody implements hub.AdapterPeer.
func (l *nodeLink) SendAdapterBody(body []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ipc.ErrClosed
	}
	if l.outSize+len(body) > nodeMaxOut {
		l.proc.Kill()
		return errNodeOutFull
	}
	l.out = append(l.out, body)
	l.outSize += len(body)
	l.cond.Broadcast()
	return nil
}

// SendAdapterValue implements hub.AdapterPeer.
func (l *nodeLink) SendAdapterValue(v any) error {
	body, err := l.conn.Encode(v)
	if err != nil {
		return err
	}
	return l.SendAdapterBody(body)
}

// nextOut waits for queued adapter bodies; false once the link is closed.
func (l *nodeLink) nextOut() ([][]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.out) == 0 && !l.closed {
		l.cond.Wait()
	}
	if l.closed {
		return nil, false
	}
	out := l.out
	l.out, l.outSize = nil, 0
	return out, true
}

// writeAdapter writes queued adapter messages until the link closes.
func (l *nodeLink) writeAdapter(log hclog.Logger) {
	for {
		bodies, ok := l.nextOut()
		if !ok {
			return
		}
		for _, b := range bodies {
			if err := l.conn.SendBody(b, -1); err != nil {
				log.Debug("node channel write failed", "error", err)
				return
			}
		}
	}
}

// handOff sends a queued handle whenever none is in flight, until the
// link is closed (the reader sends the next one itself when an ACK
// finds the queue non-empty: see answer).
func (l *nodeLink) handOff() {
	for {
		l.mu.Lock()
		for !l.closed && (len(l.handles) == 0 || l.inflight != nil || l.stopped) {
			l.cond.Wait()
		}
		if l.closed {
			l.mu.Unlock()
			return
		}
		f := l.takeNextLocked()
		l.mu.Unlock()
		l.send(f)
	}
}

// takeNextLocked makes the first queued handle the one in flight and
// starts its answer timer; nil when none is queued (or sends stopped).
func (l *nodeLink) takeNextLocked() *flight {
	if len(l.handles) == 0 || l.stopped || l.closed {
		return nil
	}
	f := &flight{h: l.handles[0]}
	l.handles = l.handles[1:]
	l.inflight = f
	f.timer = time.AfterFunc(l.ackTimeout, func() { l.timedOut(f) })
	return f
}

// send writes f's handle; a failed write ends f unacknowledged and stops
// the sends (the reader sees the channel fail).
func (l *nodeLink) send(f *flight) {
	if err := l.conn.SendHandle(stickyConnection(l.conn.Mode(), f.h.prefix, f.h.id), f.h.fd); err != nil {
		l.log.Debug("node hand-off failed", "error", err)
		l.finish(f, false, true)
	}
}

// finish ends f, when it is still the handle in flight: our dup is
// closed and done called. stop ends further sends.
func (l *nodeLink) finish(f *flight, acked, stop bool) {
	l.mu.Lock()
	if l.inflight != f {
		l.mu.Unlock()
		return
	}
	l.inflight = nil
	l.stopped = l.stopped || stop
	f.timer.Stop()
	l.cond.Broadcast()
	l.mu.Unlock()
	unix.Close(f.h.fd)
	l.done(acked)
}

// timedOut kills the worker when f is still unanswered.
func (l *nodeLink) timedOut(f *flight) {
	l.mu.Lock()
	pending := l.inflight == f
	l.mu.Unlock()
	if !pending {
		return
	}
	l.log.Error("node worker did not acknowledge a connection in time; restarting it", "timeout", l.ackTimeout)
	l.proc.Kill()
	l.finish(f, false, true)
}

// answer takes the reader's NODE_HANDLE_ACK (ok) or NACK for the handle
// in flight. A NACK is retried nodeNackRetries times. Once the handle is
// answered, the next queued one is sent at once, from the reader's
// goroutine. An answer nothing waits for is a protocol surprise.
func (l *nodeLink) answer(ok bool) {
	l.mu.Lock()
	f := l.inflight
	switch {
	case f == nil:
		l.mu.Unlock()
		l.log.Warn("node worker answered a handle that was not sent; ignoring it")
		return
	case !ok && f.tries < nodeNackRetries:
		f.tries++
		l.mu.Unlock()
		l.log.Warn("node worker refused a handle (NODE_HANDLE_NACK); retrying", "try", f.tries)
		l.send(f)
		return
	}
	l.inflight = nil
	f.timer.Stop()
	next := l.takeNextLocked()
	l.mu.Unlock()
	if !ok {
		l.log.Error("node worker refused a handle repeatedly; connection closed", "tries", nodeNackRetries+1)
	}
	unix.Close(f.h.fd)
	l.done(ok)
	if next != nil {
		l.send(next)
	}
}

// readerDone ends the handle in flight unanswered: the channel's reader
// has stopped, so no answer will come.
func (l *nodeLink) readerDone() {
	l.mu.Lock()
	f := l.inflight
	l.mu.Unlock()
	if f != nil {
		l.finish(f, false, true)
	}
}
