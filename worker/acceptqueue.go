package worker

import (
	"io"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults of the accept queue bound (Options.MaxAcceptQueue,
// Options.AcceptQueueStall).
const (
	DefaultMaxAcceptQueue   = 256
	DefaultAcceptQueueStall = time.Second
)

// respAcceptQueueFull answers a connection refused because the app does
// not accept: the client may retry (another worker, or this one later).
const respAcceptQueueFull = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Retry-After: 1\r\nContent-Length: 18\r\nConnection: close\r\n\r\naccept queue full\n"

// refuseWriteTimeout bounds the write of respAcceptQueueFull; a fresh
// socket's send buffer takes it at once.
const refuseWriteTimeout = 100 * time.Millisecond

// Counters are running totals of a Listener, for metrics (the primary
// does not see them: an app exports them itself).
type Counters struct {
	// AcceptQueueStalls counts the times the accept queue was full and
	// the Listener stopped reading its control link (back-pressure).
	AcceptQueueStalls uint64
	// AcceptQueueRefused counts connections answered 503 and closed
	// because the accept queue stayed full past Options.AcceptQueueStall.
	AcceptQueueRefused uint64
}

// Counters returns the Listener's running totals. Safe for concurrent use.
func (l *Listener) Counters() Counters {
	return Counters{AcceptQueueStalls: l.acceptStalls.Load(), AcceptQueueRefused: l.acceptRefused.Load()}
}

// Queued returns the number of connections received and waiting for
// Accept (0 standalone).
func (l *Listener) Queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

// waitForRoom is called by the control-link reader before each message.
// While the accept queue holds MaxAcceptQueue connections it does not
// return, so the link is not read: the primary's non-blocking hand-offs
// to this worker fail once the link's buffer is full and go through its
// slow path, and connections sent and not received count as in flight
// in its balancer, which then prefers other workers. The wait ends when
// Accept takes a connection, when the Listener stops accepting, or after
// AcceptQueueStall: the app is then taken to be stuck and the Listener
// sheds (deliver answers 503) until Accept takes a connection again, so
// that Drain, Retire and the primary's exit are still read.
func (l *Listener) waitForRoom() {
	if !l.acceptQueueFull() {
		return
	}
	l.acceptStalls.Add(1)
	timer := time.NewTimer(l.opts.AcceptQueueStall)
	defer timer.Stop()
	for {
		select {
		case <-l.acceptRoom:
		case <-l.done:
			return
		case <-timer.C:
			l.mu.Lock()
			l.shedding = true
			queued := len(l.queue)
			l.mu.Unlock()
			l.log.Warn("the app accepts no connection: answering new ones 503 until it does",
				"queued", queued, "stall", l.opts.AcceptQueueStall)
			return
		}
		if !l.acceptQueueFull() {
			return
		}
	}
}

// acceptQueueFull reports whether the reader must wait for room: the
// queue is at its bound, Accept still runs and the Listener is not
// shedding.
func (l *Listener) acceptQueueFull() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue) >= l.opts.MaxAcceptQueue && !l.shedding && !l.closed
}

// tookFromQueue is called by Accept after it took a connection (and
// ended shedding under l.mu): it wakes a reader waiting in waitForRoom.
func (l *Listener) tookFromQueue() {
	select {
	case l.acceptRoom <- struct{}{}:
	default:
	}
}

// refuse answers c 503 and closes it, on the reader, without waiting: it
// reads what the client sent already (so that the close sends FIN, not a
// reset that could destroy the answer), writes the answer, shuts down
// writing and closes c.
func (l *Listener) refuse(c *Conn) {
	defer c.Close()
	l.acceptRefused.Add(1)
	l.log.Debug("accept queue full: connection answered 503", "conn_id", c.id, "client", c.remote)
	buf := make([]byte, 4096)
	c.io.RawConn().Control(func(fd uintptr) {
		for range 16 {
			if n, _, err := unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT); err != nil || n <= 0 {
				return
			}
		}
	})
	c.SetWriteDeadline(time.Now().Add(refuseWriteTimeout))
	if _, err := io.WriteString(c, respAcceptQueueFull); err == nil {
		c.CloseWrite()
	}
}
