package hub

import (
	"sync"
	"sync/atomic"
	"time"
)

// sink is where the hub writes a member's frames. A worker's is its
// *ipc.FrameConn; a member that is not a worker process (the fleet's
// bridge to other hosts) would bring its own. TryWriteFrame must not
// block and returns ipc.ErrQueueFull when the sink's own queue is full;
// QueueFrame is TryWriteFrame that writes nothing before Push; WriteFrame
// may block until there is room; after Close all fail.
type sink interface {
	TryWriteFrame(typ byte, payload []byte) error
	QueueFrame(typ byte, payload []byte) error
	Push()
	WriteFrame(typ byte, payload []byte) error
	Close() error
}

// member is one participant of the hub: an instance id, the rooms it has
// announced, and its outbound queue. Serve makes one for each worker link
// and feeds the frames it reads to Server.handle; any other kind of member
// is attached the same way (an id, a sink, frames fed to handle), so
// routing, ordering and membership treat every member alike.
//
// Fields other than id, out, stats, queue and pushes are guarded by
// Server.mu.
type member struct {
	id      uint32
	out     sink
	rooms   map[string]map[string]struct{} // nsp -> rooms this member has
	removed bool
	scratch []byte // encode buffer, used under Server.mu (write lock)
	stats   memberStats
	queue   outQueue

	// pushes are the members whose sinks hold frames this member's
	// frames were relayed as, queued without a write (QueueFrame). Only
	// the goroutine handling this member's frames uses it: it pushes
	// them before it reads the link again or stalls (Server.push).
	pushes []*member
}

// memberStats are the per-member figures behind the hub's metrics.
type memberStats struct {
	// awaiting counts requests forwarded to this member that it has not
	// answered with a final response yet.
	awaiting atomic.Int64
}

// outQueue is what a member's sink could not take yet: frames wait here,
// in order, and one flush goroutine moves them into the sink. See flow.go
// for the policy that bounds it.
type outQueue struct {
	mu       sync.Mutex
	frames   [][]byte // type byte + payload, waiting for room in the sink
	bytes    int
	flushing bool // a flush goroutine is running
	closed   bool // the member was removed: nothing is queued any more

	// drained is non-nil while bytes > StallThreshold (a congestion
	// episode); it is closed when the queue drops back to the threshold
	// or the member is removed. Stalled senders wait on it.
	drained chan struct{}
	// slow is set when a sender's stall budget ran out waiting for this
	// episode to end: later senders do not wait for it again.
	slow bool
	// cutTimer cuts the member when the episode lasts StallTimeout.
	cutTimer *time.Timer
}

func newMember(id uint32, out sink) *member {
	return &member{id: id, out: out, rooms: make(map[string]map[string]struct{})}
}
