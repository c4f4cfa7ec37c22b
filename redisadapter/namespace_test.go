package redisadapter

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/redisemitter"
	"github.com/stickyd/stickyd/socketio"
)

// A namespace other than "/" has its own channels: broadcasts on /custom
// reach /custom clients of a Go peer and of the Node server, never "/".
func TestCustomNamespaceAcrossFleet(t *testing.T) {
	r := startRedis(t)
	g := startGoPeer(t, r.URL, "go")
	node := startNodePeer(t, r.URL)
	custom := []*wsClient{dialClientNsp(t, g.addr, "gc", "/custom"), dialClientNsp(t, node.addr, "nc", "/custom")}
	main := []*wsClient{dialClient(t, g.addr, "gm"), dialClient(t, node.addr, "nm")}
	if err := g.io.Of("/custom").Emit("from-go", 2); err != nil {
		t.Fatal(err)
	}
	e, err := redisemitter.New(redisemitter.Options{URL: r.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Of("/custom").Emit("from-emitter", 3); err != nil {
		t.Fatal(err)
	}
	// The Go peer publishes from its queue, the emitter at once: either
	// may reach Redis first, so the two events come in either order.
	for _, c := range custom {
		got := map[string]string{}
		deadline := time.Now().Add(5 * time.Second)
		for len(got) < 2 {
			ev := c.next(t, time.Until(deadline))
			if ev.Name == "from-go" || ev.Name == "from-emitter" {
				got[ev.Name] = string(ev.Args[0])
			}
		}
		if got["from-go"] != "2" || got["from-emitter"] != "3" {
			t.Fatalf("%s: %v, want from-go 2 and from-emitter 3", c.name, got)
		}
	}
	for _, c := range main {
		c.expectNone(t, "from-go", 100*time.Millisecond)
		c.expectNone(t, "from-emitter", 0)
	}
}

// Broadcast acks with a timeout across Go and Node when a socket never
// acks: each side returns the acks it got and a timeout error, and the Go
// side keeps nothing pending.
func TestBroadcastAcksTimeoutAcrossFleet(t *testing.T) {
	r := startRedis(t)
	g := startGoPeer(t, r.URL, "go")
	node := startNodePeer(t, r.URL)
	clients := []*wsClient{dialClient(t, g.addr, "g"), dialClient(t, node.addr, "n"), dialClient(t, node.addr, "mute")}
	for _, c := range clients {
		c.call(t, "join", "q")
	}
	for _, c := range clients[:2] {
		var res opResult
		start := time.Now()
		c.callInto(t, &res, "op-emit-ack", target{To: []string{"q"}}, 500)
		if res.Error == "" || len(res.Responses) != 2 || time.Since(start) > 3*time.Second {
			t.Fatalf("%s: %+v after %v, want 2 acks and a timeout", c.name, res, time.Since(start))
		}
		acks := map[string]bool{}
		for _, a := range res.Responses {
			var s string
			_ = json.Unmarshal(a, &s)
			acks[s] = true
		}
		if !acks["ack-g"] || !acks["ack-n"] {
			t.Fatalf("%s: acks %v", c.name, acks)
		}
	}
	a := g.io.Of("/").Adapter().(*Adapter)
	testutil.CheckFor(t, 3*time.Second, 10*time.Millisecond, func() error {
		if n := a.pending(); n != 0 {
			return fmt.Errorf("%d requests pending", n)
		}
		return nil
	})
	// the Go API gives the same: 2 acks and an error wrapping ErrTimeout
	acks, err := g.io.To("q").Timeout(300*time.Millisecond).EmitWithAck(t.Context(), "question")
	if !errors.Is(err, socketio.ErrTimeout) || len(acks) != 2 {
		t.Fatalf("EmitWithAck: %v %v", acks, err)
	}
}
