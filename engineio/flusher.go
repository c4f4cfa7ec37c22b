package engineio

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// flusher writes websocket transports whose write token was claimed
// without writing on the claimer's goroutine (wsTransport.kickLocked: a
// broadcast's deferred sends, a pong, a close). One goroutine per shard
// takes turns at them, and exists only while its shard has work.
//
// Why not a goroutine per transport: a broadcast to n local sockets would
// start n goroutines, and creating, scheduling and ending them was about
// a tenth of a worker's CPU per delivery under fan-out; a shard's
// goroutine writes one socket after another with its caches warm. There
// are GOMAXPROCS shards, so the writes of a broadcast still run on every
// P the process has.
//
// A shard's goroutine runs wsTransport.run(true): it writes only what a
// socket takes at once, hands the rest of a full socket to a goroutine of
// its own, and runs no close callbacks, so one slow client or callback
// cannot hold up the others.
type flusher struct {
	shards []flushShard
	next   atomic.Uint32 // round-robin shard of a new transport
}

type flushShard struct {
	mu      sync.Mutex
	queue   []*wsTransport // claimed transports to write, in order
	spare   []*wsTransport // the previous queue's array, for reuse
	running bool           // a goroutine is draining queue
	_       [64]byte       // keep shards off each other's cache lines
}

// newFlusher returns a flusher of n shards (at least one).
func newFlusher(n int) *flusher {
	return &flusher{shards: make([]flushShard, max(1, n))}
}

// shardFor picks the shard of a new transport.
func (f *flusher) shardFor() uint32 {
	return (f.next.Add(1) - 1) % uint32(len(f.shards))
}

// add queues t, whose write token the caller holds; the token goes with
// it. It may be called with t.s.mu held (it takes only the shard's lock).
func (f *flusher) add(t *wsTransport) {
	sh := &f.shards[t.shard]
	sh.mu.Lock()
	sh.queue = append(sh.queue, t)
	start := !sh.running
	sh.running = true
	sh.mu.Unlock()
	if start {
		go sh.run()
	}
}

// run drains the shard, then ends.
func (sh *flushShard) run() {
	// Let what is ready to run go first (a broadcast still queueing
	// sends): more sockets are queued by the time this starts, and their
	// frames go out in fewer writes. With nothing else to run this
	// returns at once.
	runtime.Gosched()
	for {
		sh.mu.Lock()
		q := sh.queue
		if len(q) == 0 {
			sh.running = false
			sh.mu.Unlock()
			return
		}
		sh.queue, sh.spare = sh.spare, nil
		sh.mu.Unlock()
		for i, t := range q {
			q[i] = nil
			t.run(true)
		}
		if cap(q) <= 4096 { // an idle shard should not hold a burst's array
			sh.mu.Lock()
			sh.spare = q[:0]
			sh.mu.Unlock()
		}
	}
}
