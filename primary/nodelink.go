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
// the connection (the request head of a TLS relay), usually nothing: the
// primary only peeks, so the request is still in the socket. It is a
// Buffer in advanced mode; in json mode a string (a Buffer's JSON form
// when the bytes are not UTF-8, which only sticky 1.x reads).
func stickyConnection(mode nodeipc.Mode, prefix []byte) map[string]any {
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
	return map[string]any{"type": "sticky:connection", "data": data}
}

// handoff is a connection waiting for its hand-off.
type handoff struct {
	fd     int
	prefix []byte
}

// nodeLink is the primary's end of one Node worker's IPC channel. It
// implements workerLink: a Conn message queues the connection's fd (a
// dup) for the hand-off goroutine, which sends one handle at a time and
// waits for its ACK; Drain sends SIGTERM; Retire does nothing (a Node
// worker never hands a connection back). Adapter messages for the worker
// go through their own queue and writer goroutine, so neither queue waits
// for the other.
type nodeLink struct {
	conn *nodeipc.Conn
	proc *process
	acks chan bool // the reader's ACK (true) / NACK (false) for the handle in flight
	// reroute takes a queued connection the worker never got (its fd, the
	// primary's dup, whose request is still unread) when the link closes.
	reroute func(fd int)

	mu      sync.Mutex
	cond    *sync.Cond
	handles []handoff // connections waiting for their hand-off (our dups)
	out     [][]byte  // adapter message bodies waiting to be written
	outSize int
	closed  bool
}

func newNodeLink(conn *nodeipc.Conn, proc *process, reroute func(fd int)) *nodeLink {
	l := &nodeLink{conn: conn, proc: proc, acks: make(chan bool, 1), reroute: reroute}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// Send implements workerLink; it never blocks.
func (l *nodeLink) Send(m *ipc.Message, fd int) error {
	switch m.Type {
	case ipc.MsgConn:
		return l.queueHandle(fd, m.Prefix)
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

func (l *nodeLink) queueHandle(fd int, prefix []byte) error {
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
	l.handles = append(l.handles, handoff{dup, append([]byte(nil), prefix...)})
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

// nextHandle waits for a queued connection; false once the link is closed.
func (l *nodeLink) nextHandle() (handoff, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.handles) == 0 && !l.closed {
		l.cond.Wait()
	}
	if l.closed {
		return handoff{}, false
	}
	h := l.handles[0]
	l.handles = l.handles[1:]
	return h, true
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

// handOff sends queued handles one at a time, each waiting for its ACK
// (up to ackTimeout) before the next; a NACK is retried nodeNackRetries
// times. done is called with each handle's outcome. A worker that does
// not answer in time is killed (its slot respawns it) and the rest of its
// queue is closed by Close.
func (l *nodeLink) handOff(ackTimeout time.Duration, log hclog.Logger, done func(acked bool)) {
	for {
		h, ok := l.nextHandle()
		if !ok {
			return
		}
		acked, alive := l.sendHandle(h, ackTimeout, log)
		unix.Close(h.fd)
		done(acked)
		if !alive {
			return
		}
	}
}

// sendHandle hands fd over and waits for the answer. alive is false when
// the link failed or the worker was killed for not answering.
func (l *nodeLink) sendHandle(h handoff, ackTimeout time.Duration, log hclog.Logger) (acked, alive bool) {
	t := time.NewTimer(ackTimeout)
	defer t.Stop()
	for try := 0; try <= nodeNackRetries; try++ {
		if err := l.conn.SendHandle(stickyConnection(l.conn.Mode(), h.prefix), h.fd); err != nil {
			log.Debug("node hand-off failed", "error", err)
			return false, false
		}
		select {
		case ok, open := <-l.acks:
			if !open {
				return false, false
			}
			if ok {
				return true, true
			}
			log.Warn("node worker refused a handle (NODE_HANDLE_NACK); retrying", "try", try+1)
		case <-t.C:
			log.Error("node worker did not acknowledge a connection in time; restarting it", "timeout", ackTimeout)
			l.proc.Kill()
			return false, false
		}
	}
	log.Error("node worker refused a handle repeatedly; connection closed", "tries", nodeNackRetries+1)
	return false, true
}

// ack passes the reader's NODE_HANDLE_ACK / NACK to the hand-off
// goroutine; an answer nothing waits for is a protocol surprise.
func (l *nodeLink) ack(ok bool, log hclog.Logger) {
	select {
	case l.acks <- ok:
	default:
		log.Warn("node worker answered a handle that was not sent; ignoring it")
	}
}
