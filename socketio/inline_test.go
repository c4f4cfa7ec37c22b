package socketio

import (
	"context"
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickyd/stickyd/engineio"
	"github.com/stickyd/stickyd/internal/testutil"
)

// Event handlers of a busy websocket client run inline on its reader.
// These tests pin what must still hold: a handler may wait for its own
// client, a slow handler does not stop the connection's reading, and order
// stays. Each test first sends an event without a handler (warm), so that
// the ones that follow count as a busy client's.

// warm sends an event no handler listens to.
func (c *tclient) warm() { c.send(`2["warm"]`) }

// TestHandlerWaitsForOwnAck: a handler that waits (synchronously) for its
// own client's ack gets it: the reader goes on without the handler.
func TestHandlerWaitsForOwnAck(t *testing.T) {
	env := newEnv(t, Options{})
	env.io.OnConnection(func(s *Socket) {
		_ = s.On("ask", func(ack AckFunc) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got, err := s.EmitWithAck(ctx, "question")
			if err != nil {
				_ = ack("error: " + err.Error())
				return
			}
			_ = ack(got[0])
		})
	})
	c := env.dial("")
	c.connect("/", "")
	c.warm()
	c.send(`21["ask"]`)
	var id int
	if _, err := fmt.Sscanf(c.expectPrefix("2"), `2%d["question"]`, &id); err != nil {
		t.Fatal(err)
	}
	c.send(fmt.Sprintf(`3%d["answer"]`, id))
	c.expect(`31["answer"]`)
}

// TestSlowHandlerDoesNotStopReading: while a handler of one namespace's
// socket waits for longer than the inline budget, the client's next packet
// (another namespace's event, which ends the wait) is still read.
func TestSlowHandlerDoesNotStopReading(t *testing.T) {
	env := newEnv(t, Options{})
	unblock := make(chan struct{})
	var once sync.Once
	env.io.OnConnection(func(s *Socket) {
		_ = s.On("block", func(ack AckFunc) {
			select {
			case <-unblock:
				_ = ack("unblocked")
			case <-time.After(5 * time.Second):
				_ = ack("still blocked")
			}
		})
	})
	env.io.Of("/b").OnConnection(func(s *Socket) {
		_ = s.On("free", func() { once.Do(func() { close(unblock) }) })
	})
	c := env.dial("")
	c.connect("/", "")
	c.connect("/b", "")
	c.warm()
	c.send(`21["block"]`)
	c.send(`2/b,["free"]`)
	c.expect(`31["unblocked"]`)
}

// TestInlineHandlersKeepOrder: events of one socket are handled one at a
// time in arrival order, also when the first runs past the inline budget
// (reading moves on and later events queue behind it).
func TestInlineHandlersKeepOrder(t *testing.T) {
	const n = 50
	env := newEnv(t, Options{})
	var mu sync.Mutex
	var got []int
	running := 0
	overlap := false
	env.io.OnConnection(func(s *Socket) {
		_ = s.On("n", func(i int, ack AckFunc) {
			mu.Lock()
			running++
			overlap = overlap || running > 1
			mu.Unlock()
			if i == 0 {
				time.Sleep(3 * inlineBudget) // a slow handler: the work itself
			}
			mu.Lock()
			got = append(got, i)
			running--
			mu.Unlock()
			if ack != nil {
				_ = ack(i)
			}
		})
	})
	c := env.dial("")
	c.connect("/", "")
	c.warm()
	c.sendNumbered(n)
	mu.Lock()
	defer mu.Unlock()
	checkNumbered(t, got, n)
	if overlap {
		t.Fatal("handlers overlapped")
	}
}

// sendNumbered sends events "n" 0..n-1, the last with ack id 9, and
// waits for its ack (the handler acks its number).
func (c *tclient) sendNumbered(n int) {
	c.t.Helper()
	for i := range n {
		ackID := ""
		if i == n-1 {
			ackID = "9"
		}
		c.send(fmt.Sprintf(`2%s["n",%d]`, ackID, i))
	}
	c.expect(fmt.Sprintf(`39[%d]`, n-1))
}

// checkNumbered fails unless got is 0..n-1.
func checkNumbered(t *testing.T, got []int, n int) {
	t.Helper()
	for i, v := range got {
		if v != i {
			t.Fatalf("handled out of order: %v", got)
		}
	}
	if len(got) != n {
		t.Fatalf("handled %d of %d", len(got), n)
	}
}

// TestOnlyBusyClientsRunInline: a client's first event, or one after a
// quiet spell, runs on a handler goroutine (an idle connection keeps a
// small reader stack); one that follows another closely runs on the
// reader.
func TestOnlyBusyClientsRunInline(t *testing.T) {
	env := newEnv(t, Options{})
	onReader := make(chan bool, 2)
	env.io.OnConnection(func(s *Socket) {
		_ = s.On("where", func() {
			buf := make([]byte, 64<<10)
			onReader <- strings.Contains(string(buf[:runtime.Stack(buf, false)]), "engineio.(*wsTransport).read(")
		})
	})
	c := env.dial("")
	c.connect("/", "")
	c.send(`2["where"]`)
	if <-onReader {
		t.Fatal("a client's first event ran on the reader")
	}
	// The next ones follow closely; one that finds the socket's queue idle
	// (the first's handler goroutine may still be releasing it) runs on
	// the reader.
	deadline := time.Now().Add(5 * time.Second)
	for !func() bool { c.send(`2["where"]`); return <-onReader }() {
		if time.Now().After(deadline) {
			t.Fatal("no event of a busy client ran on the reader")
		}
	}
}

// newEnvBudget is newEnv with the inline budget set to budget.
func newEnvBudget(t *testing.T, budget time.Duration) *testEnv {
	t.Helper()
	testutil.CheckNoLeaks(t, testutil.GoroutinesOnly(), testutil.Within(5*time.Second, 10*time.Millisecond))
	io := NewServer(Options{Options: engineio.Options{PingInterval: 5 * time.Second}})
	io.inlineBudget = budget
	hs := httptest.NewServer(io)
	t.Cleanup(func() {
		_ = io.Close()
		hs.Close()
	})
	return &testEnv{t: t, io: io, hs: hs, url: hs.URL}
}

// onReader reports whether the caller runs on a websocket reader.
func onReader() bool {
	buf := make([]byte, 64<<10)
	return strings.Contains(string(buf[:runtime.Stack(buf, false)]), "engineio.(*wsTransport).read(")
}

// inlineOnce sends event (a handler that reports on started whether it
// runs on the reader and, if so, blocks) until a run is on the reader.
func (c *tclient) inlineOnce(event string, started <-chan bool) {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.send(event)
		if <-started {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s never ran on the reader", event)
		}
	}
}

// TestInlineBudgetOfEachRun: a handler released from the reader (it
// outlasted its budget) that returns while a handler of another
// namespace's socket runs inline on the next reader does not take that
// handler's budget away: the second handler is released in its turn, so
// a third namespace's event is still read and answered while it blocks.
func TestInlineBudgetOfEachRun(t *testing.T) {
	env := newEnvBudget(t, 300*time.Millisecond)
	aStarted, aDone := make(chan bool), make(chan struct{})
	bStarted, bDone := make(chan bool), make(chan struct{})
	t.Cleanup(func() { close(bDone) })
	blockOnReader := func(started chan<- bool, done <-chan struct{}) func() {
		return func() {
			inline := onReader()
			started <- inline
			if inline {
				<-done
			}
		}
	}
	env.io.OnConnection(func(s *Socket) { _ = s.On("a", blockOnReader(aStarted, aDone)) })
	env.io.Of("/b").OnConnection(func(s *Socket) { _ = s.On("b", blockOnReader(bStarted, bDone)) })
	env.io.Of("/c").OnConnection(func(s *Socket) {
		_ = s.On("ping", func(ack AckFunc) { _ = ack("pong") })
	})
	c := env.dial("")
	c.connect("/", "")
	c.connect("/b", "")
	c.connect("/c", "")
	c.warm()
	c.inlineOnce(`2["a"]`, aStarted)    // released after its budget
	c.inlineOnce(`2/b,["b"]`, bStarted) // on the next reader, with a budget of its own
	close(aDone)                        // a returns during b's budget
	c.send(`2/c,1["ping"]`)
	c.expect(`3/c,1["pong"]`)
}
