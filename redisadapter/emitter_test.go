package redisadapter

import (
	"fmt"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/redisemitter"
)

// The Go emitter's socketsJoin, socketsLeave, serverSideEmit and
// disconnectSockets reach a Go peer's and the Node server's sockets.
func TestGoEmitterOperations(t *testing.T) {
	r := startRedis(t)
	g := startGoPeer(t, r.URL, "go")
	node := startNodePeer(t, r.URL)
	clients := []*wsClient{dialClient(t, g.addr, "g"), dialClient(t, node.addr, "n")}
	for _, c := range clients {
		c.call(t, "join", "e")
	}
	e, err := redisemitter.New(redisemitter.Options{URL: r.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	count := func(room string) func() error {
		return func() error {
			var sockets []fetched
			clients[0].callInto(t, &sockets, "op-fetch", target{To: []string{room}})
			if len(sockets) != 2 {
				return fmt.Errorf("%d sockets in %s", len(sockets), room)
			}
			return nil
		}
	}
	if err := e.In("e").SocketsJoin("ej"); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 3*time.Second, 20*time.Millisecond, count("ej"))
	if err := e.In("e").SocketsLeave("ej"); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 3*time.Second, 20*time.Millisecond, func() error {
		if count("ej")() == nil {
			return fmt.Errorf("sockets still in ej")
		}
		return nil
	})
	if err := e.ServerSideEmit("sse-note", "from-emitter"); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if ev := c.expectEvent(t, "sse-note"); string(ev.Args[0]) != `"from-emitter"` {
			t.Fatalf("%s: sse-note %s", c.name, ev.Args)
		}
	}
	if err := e.Volatile().Compress(true).Except("nobody").Emit("flags", 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		c.expectEvent(t, "flags")
	}
	if err := e.In("e").DisconnectSockets(false); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		c.expectEvent(t, "disconnect")
	}
}
