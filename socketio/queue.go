package socketio

import (
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/internal/growstack"
)

// taskQueue runs functions one at a time, in the order they were pushed, on
// a goroutine that exists only while the queue is not empty. A panicking
// task is recovered and logged; the queue goes on.
type taskQueue struct {
	mu      sync.Mutex
	tasks   []func()
	running bool
	log     hclog.Logger
	wg      *taskGroup // counts running goroutines (Server.Close waits)
}

// acquire makes the caller the queue's runner if the queue is idle and
// reports whether it did; the caller then runs its task itself (through
// safe) and calls drain to finish what was pushed meanwhile.
func (q *taskQueue) acquire() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running {
		return false
	}
	q.running = true
	if q.wg != nil {
		q.wg.Add(1)
	}
	return true
}

func (q *taskQueue) push(f func()) {
	q.mu.Lock()
	q.tasks = append(q.tasks, f)
	if !q.running {
		q.running = true
		if q.wg != nil {
			q.wg.Add(1)
		}
		go q.run()
	}
	q.mu.Unlock()
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
