package socketio

import (
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/internal/growstack"
)

// taskQueue runs functions one at a time, in the order they were pushed, on
// a goroutine that exists only while the queue is not empty. A panicking
// task is recovered and logged; the queue goes on.
//
// push never refuses; pushBounded, for the tasks a client can create at
// will (its events), bounds the tasks waiting (see Options.MaxQueuedEvents).
type taskQueue struct {
	mu      sync.Mutex
	tasks   []func()
	running bool
	log     hclog.Logger
	wg      *taskGroup // counts running goroutines (Server.Close waits)

	// pushBounded's callers take tickets and queue in ticket order: a
	// reader released while it waits (engineio.Socket.ReleaseReader) has
	// a successor that must not overtake it.
	nextTicket, serving uint64
	room                chan struct{} // closed when a waiter may go on; nil: none waits
	closing             bool          // pushBounded drops at once: the socket closed or was cut
}

// pushResult is what pushBounded did.
type pushResult uint8

const (
	pushed        pushResult = iota // queued at once
	pushedStalled                   // queued after waiting for room
	pushRefused                     // no room within the stall: not queued, the queue now drops
	pushDropped                     // the queue drops (closeBounded, or another caller's refusal)
)

// pushBounded queues f if fewer than limit tasks wait (the running one
// not counted) and no earlier caller waits. Otherwise it blocks its
// caller, the client's reader, until its turn comes and a task leaves the
// queue, for at most stall: a handler that makes progress slows a
// flooding client down (its reads stop, so TCP pushes back) without
// losing anything; one that makes none for stall gets pushRefused, the
// caller cuts the client, and the queue drops every bounded push from
// then on. Callers waiting at once are served in call order.
func (q *taskQueue) pushBounded(f func(), limit int, stall time.Duration) pushResult {
	var timer *time.Timer
	result := pushed
	q.mu.Lock()
	ticket := q.nextTicket
	q.nextTicket++
	for {
		if q.closing {
			q.mu.Unlock()
			stopTimer(timer)
			return pushDropped
		}
		if q.serving == ticket && len(q.tasks) < limit {
			q.appendLocked(f)
			q.serving++
			q.wakeLocked() // the next ticket's turn
			q.mu.Unlock()
			stopTimer(timer)
			return result
		}
		if q.room == nil {
			q.room = make(chan struct{})
		}
		room := q.room
		q.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(stall)
			result = pushedStalled
		}
		select {
		case <-room:
		case <-timer.C:
			q.closeBounded()
			return pushRefused
		}
		q.mu.Lock()
	}
}

// closeBounded makes pushBounded drop from now on and wakes its waiters.
func (q *taskQueue) closeBounded() {
	q.mu.Lock()
	q.closing = true
	q.wakeLocked()
	q.mu.Unlock()
}

// wakeLocked wakes pushBounded's waiters; q.mu is held.
func (q *taskQueue) wakeLocked() {
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// acquire makes the caller the queue's runner if the queue is idle and no
// pushBounded caller waits (it would be overtaken), and reports whether
// it did; the caller then runs its task itself (through safe) and calls
// drain to finish what was pushed meanwhile.
func (q *taskQueue) acquire() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running || q.serving != q.nextTicket {
		return false
	}
	q.running = true
	if q.wg != nil {
		q.wg.Add(1)
	}
	return true
}

// push queues f, whatever the queue's length.
func (q *taskQueue) push(f func()) {
	q.mu.Lock()
	q.appendLocked(f)
	q.mu.Unlock()
}

// appendLocked queues f and starts the runner if none runs; q.mu is held.
func (q *taskQueue) appendLocked(f func()) {
	q.tasks = append(q.tasks, f)
	if !q.running {
		q.running = true
		if q.wg != nil {
			q.wg.Add(1)
		}
		go q.run()
	}
}

// waiting returns the number of tasks queued and not started.
func (q *taskQueue) waiting() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.tasks)
}

// run is the queue's goroutine: it drains the queue.
func (q *taskQueue) run() {
	growstack.Grow() // callbacks run deep: one growth now, not two later
	q.drain()
}

// drain runs the pushed tasks until the queue is empty, then gives up the
// runner role (taken by push or acquire). An inline runner (acquire) calls
// it on its own stack, which needs no growing: Grow is for fresh
// goroutines, and it costs a 10 KiB frame on every call.
func (q *taskQueue) drain() {
	if q.wg != nil {
		defer q.wg.Done()
	}
	for {
		q.mu.Lock()
		if len(q.tasks) == 0 {
			q.running = false
			q.tasks = nil
			q.mu.Unlock()
			return
		}
		f := q.tasks[0]
		q.tasks[0] = nil
		q.tasks = q.tasks[1:]
		q.wakeLocked() // there is room for pushBounded's waiters
		q.mu.Unlock()
		q.safe(f)
	}
}

func (q *taskQueue) safe(f func()) {
	defer func() {
		if r := recover(); r != nil {
			if q.log != nil {
				q.log.Error("handler panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			}
		}
	}()
	f()
}

// taskGroup counts running queue goroutines. Unlike sync.WaitGroup, adding
// while another goroutine waits is allowed (late events during Close).
type taskGroup struct {
	mu   sync.Mutex
	cond *sync.Cond
	n    int
}

func (g *taskGroup) Add(d int) {
	g.mu.Lock()
	g.n += d
	if g.n == 0 && g.cond != nil {
		g.cond.Broadcast()
	}
	g.mu.Unlock()
}

func (g *taskGroup) Done() { g.Add(-1) }

// Wait returns when no queue goroutine runs.
func (g *taskGroup) Wait() {
	g.mu.Lock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	for g.n > 0 {
		g.cond.Wait()
	}
	g.mu.Unlock()
}
