package socketio

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
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
	for i := range n {
		ackID := ""
		if i == n-1 {
			ackID = "9"
		}
		c.send(fmt.Sprintf(`2%s["n",%d]`, ackID, i))
	}
	c.expect(fmt.Sprintf(`39[%d]`, n-1))
	mu.Lock()
	defer mu.Unlock()
	for i, v := range got {
		if v != i {
			t.Fatalf("handled in order %v", got)
		}
	}
	if len(got) != n || overlap {
		t.Fatalf("handled %d of %d, overlapping %v", len(got), n, overlap)
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
			onReader <- strings.Contains(string(buf[:runtime.Stack(buf, false)]), "engineio.(*wsTransport).readLoop")
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
