package primary

import "sync"

// goroutineGroup starts goroutines that a shutdown waits for, and refuses
// to start any once the shutdown has stopped the group (nats-server's
// startGoRoutine): the running check and WaitGroup.Add happen under one
// lock, so no goroutine can be added after, or while, wait runs.
type goroutineGroup struct {
	mu      sync.Mutex // guards stopped and orders Add before wait
	stopped bool
	wg      sync.WaitGroup
}

// start runs f on a new goroutine counted in g and reports true, or
// reports false and runs nothing once g is stopped.
func (g *goroutineGroup) start(f func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
	return true
}

// stop makes later starts fail. Idempotent.
func (g *goroutineGroup) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
}

// wait waits for every goroutine g started. Call it after stop, or
// goroutines started meanwhile are waited for too.
func (g *goroutineGroup) wait() { g.wg.Wait() }
