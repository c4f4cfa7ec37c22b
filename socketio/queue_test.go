package socketio

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stickyd/stickyd/internal/testutil"
)

// busyQueue returns a queue whose runner is busy until release is closed.
func busyQueue(t *testing.T, release <-chan struct{}) *taskQueue {
	t.Helper()
	q := &taskQueue{}
	q.push(func() { <-release })
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if n := q.waiting(); n != 0 {
			return fmt.Errorf("%d waiting", n)
		}
		return nil
	})
	return q
}

// TestPushBoundedStalls: a full queue makes pushBounded wait; a task
// leaving the queue lets it in (pushedStalled).
func TestPushBoundedStalls(t *testing.T) {
	release := make(chan struct{})
	q := busyQueue(t, release)
	if got := q.pushBounded(func() {}, 1, time.Hour); got != pushed {
		t.Fatalf("room for one: got %d, want pushed", got)
	}
	result := make(chan pushResult)
	go func() { result <- q.pushBounded(func() {}, 1, time.Hour) }()
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if !testutil.GoroutineIn("[select", "socketio.(*taskQueue).pushBounded") {
			return errors.New("pushBounded is not waiting yet")
		}
		return nil
	})
	close(release)
	if got := <-result; got != pushedStalled {
		t.Fatalf("after room: got %d, want pushedStalled", got)
	}
}

// TestPushBoundedRefuses: no room within the stall refuses the task and
// queues nothing; from then on the queue drops bounded pushes at once.
func TestPushBoundedRefuses(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	q := busyQueue(t, release)
	q.pushBounded(func() {}, 1, time.Hour)
	if got := q.pushBounded(func() {}, 1, 50*time.Millisecond); got != pushRefused {
		t.Fatalf("full and stuck: got %d, want pushRefused", got)
	}
	if n := q.waiting(); n != 1 {
		t.Fatalf("a refused task was queued: %d waiting", n)
	}
	if got := q.pushBounded(func() {}, 1, time.Hour); got != pushDropped {
		t.Fatalf("after a refusal: got %d, want pushDropped", got)
	}
}

// flood writes event packets on ws until a write fails or stop is closed.
func flood(ws *websocket.Conn, wmu *sync.Mutex, stop <-chan struct{}) {
	for range 100000 {
		select {
		case <-stop:
			return
		default:
		}
		wmu.Lock()
		err := ws.WriteMessage(websocket.TextMessage, []byte(`42["x"]`))
		wmu.Unlock()
		if err != nil {
			return
		}
	}
}

// TestEventFloodOnStuckHandler: a hostile client floods events while its
// handler is stuck. Its socket's queue never holds more than
// MaxQueuedEvents, the client is cut after EventQueueStall with reason
// "event queue full" (counted), and a well-behaved client of the same
// server is answered throughout.
func TestEventFloodOnStuckHandler(t *testing.T) {
	const limit = 16
	env := newEnv(t, Options{MaxQueuedEvents: limit, EventQueueStall: 300 * time.Millisecond})
	release := make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce)
	stuck := make(chan *Socket, 1)
	reasons := make(chan string, 2)
	env.io.OnConnection(func(s *Socket) {
		_ = s.On("block", func() { stuck <- s; <-release })
		_ = s.On("echo", func(v int, ack AckFunc) { _ = ack(v) })
		s.OnDisconnect(func(reason string) { reasons <- reason })
	})
	good := env.dial("")
	good.connect("/", "")
	hostile := env.dial("")
	hostile.connect("/", "")
	hostile.send(`2["block"]`)
	s := <-stuck

	var most atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // the queue's length, sampled as it fills
		defer close(sampled)
		for {
			most.Store(max(most.Load(), int64(s.q.waiting())))
			select {
			case <-stopSampling:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	stopFlood := make(chan struct{})
	flooded := make(chan struct{})
	go func() { defer close(flooded); flood(hostile.ws, &hostile.wmu, stopFlood) }()
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if env.io.Counters().EventQueueStalls == 0 {
			return errors.New("the flood has not filled the queue")
		}
		return nil
	})
	for i := range 5 { // answered while the hostile client's reader waits
		good.send(fmt.Sprintf(`2%d["echo",%d]`, i, i))
		good.expect(fmt.Sprintf(`3%d[%d]`, i, i))
	}
	hostile.expectClosed()
	close(stopFlood)
	<-flooded
	close(stopSampling)
	<-sampled
	// The socket's close (its disconnect handlers) queues behind the events.
	if m := most.Load(); m > limit+1 {
		t.Fatalf("the stuck socket's queue held %d tasks, limit %d events and the close", m, limit)
	}
	if c := env.io.Counters(); c.EventQueueFull != 1 {
		t.Fatalf("counters %+v, want one client cut", c)
	}
	releaseOnce()
	if r := <-reasons; r != ReasonEventQueueFull {
		t.Fatalf("disconnect reason %q, want %q", r, ReasonEventQueueFull)
	}
	good.send(`29["echo",9]`)
	good.expect(`39[9]`)
}

// TestEventBurstOnSlowHandler: a client that sends faster than its
// handler runs, which keeps making progress, is slowed down (stalls are
// counted), not cut, and every event is handled in order.
func TestEventBurstOnSlowHandler(t *testing.T) {
	const n = 200
	env := newEnv(t, Options{MaxQueuedEvents: 4, EventQueueStall: 5 * time.Second})
	var mu sync.Mutex
	var got []int
	env.io.OnConnection(func(s *Socket) {
		_ = s.On("n", func(i int, ack AckFunc) {
			if i == 0 {
				// The first event's handler holds on until the reader
				// waits for room, so the queue fills whatever the
				// machine's speed; then it keeps making progress.
				deadline := time.Now().Add(4 * time.Second)
				for !s.q.readerWaits() && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
			}
			time.Sleep(200 * time.Microsecond) // the handler's work
			mu.Lock()
			got = append(got, i)
			mu.Unlock()
			if ack != nil {
				_ = ack(i)
			}
		})
	})
	c := env.dial("")
	c.connect("/", "")
	c.sendNumbered(n)
	mu.Lock()
	defer mu.Unlock()
	checkNumbered(t, got, n)
	if cs := env.io.Counters(); cs.EventQueueStalls == 0 || cs.EventQueueFull != 0 {
		t.Fatalf("counters %+v: want stalls and no client cut", cs)
	}
}

// TestPushBoundedKeepsCallOrder: callers that wait for room at once (a
// reader released while it waited, and its successor) queue in call
// order, and an idle queue is not taken inline past a waiter.
func TestPushBoundedKeepsCallOrder(t *testing.T) {
	release := make(chan struct{})
	q := busyQueue(t, release)
	var order []int
	var mu sync.Mutex
	record := func(i int) func() {
		return func() { mu.Lock(); order = append(order, i); mu.Unlock() }
	}
	q.pushBounded(record(0), 1, time.Hour) // fills the queue
	done := make(chan pushResult, 2)
	tickets := func(n uint64) func() error {
		return func() error {
			q.mu.Lock()
			defer q.mu.Unlock()
			if q.nextTicket != n {
				return fmt.Errorf("%d tickets taken, want %d", q.nextTicket, n)
			}
			return nil
		}
	}
	go func() { done <- q.pushBounded(record(1), 1, time.Hour) }()
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, tickets(2))
	go func() { done <- q.pushBounded(record(2), 1, time.Hour) }()
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, tickets(3))
	if q.acquire() {
		t.Fatal("acquire succeeded past waiting callers")
	}
	close(release)
	for range 2 {
		if r := <-done; r != pushedStalled {
			t.Fatalf("got %d, want pushedStalled", r)
		}
	}
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(order) != 3 || order[0] != 0 || order[1] != 1 || order[2] != 2 {
			return fmt.Errorf("ran %v, want [0 1 2]", order)
		}
		return nil
	})
	q.closeBounded()
	if r := q.pushBounded(func() {}, 1, time.Hour); r != pushDropped {
		t.Fatalf("after closeBounded: got %d, want pushDropped", r)
	}
}

// readerWaits reports whether a pushBounded caller waits for room.
func (q *taskQueue) readerWaits() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.room != nil
}
