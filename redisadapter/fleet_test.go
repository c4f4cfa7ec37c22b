package redisadapter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/redisemitter"
)

// Two Go peers on one Redis: every operation from each side.
func TestFleetTwoGoPeers(t *testing.T) {
	r := startRedis(t)
	a := startGoPeer(t, r.URL, "go-a")
	b := startGoPeer(t, r.URL, "go-b")
	runFleet(t, r.URL, []string{a.addr, b.addr})
}

// Go peers and a Node server (@socket.io/redis-adapter 8.3.0) on one Redis:
// every operation from each side, exactly once, binary intact.
func TestFleetGoAndNode(t *testing.T) {
	r := startRedis(t)
	a := startGoPeer(t, r.URL, "go-a")
	n := startNodePeer(t, r.URL)
	b := startGoPeer(t, r.URL, "go-b")
	runFleet(t, r.URL, []string{a.addr, n.addr, b.addr})
	nodeEmitter(t, r.URL, a, b)
}

// runFleet connects client i to server i (in rooms "room-i" and "all")
// and checks each fleet operation from each server, the Go emitter too.
func runFleet(t *testing.T, redisURL string, servers []string) {
	clients := runFleetOps(t, servers, true)
	goEmitter(t, redisURL, clients)
	finishFleet(t, clients)
}

// runFleetOps checks each fleet operation from each server (fleetRooms:
// AllRooms too, which the sharded mode lacks) and returns the clients.
func runFleetOps(t *testing.T, servers []string, fleetRooms bool) []*wsClient {
	n := len(servers)
	clients := make([]*wsClient, n)
	for i, addr := range servers {
		clients[i] = dialClient(t, addr, fmt.Sprintf("c%d", i))
		clients[i].call(t, "join", fmt.Sprintf("room-%d", i))
		clients[i].call(t, "join", "all")
	}
	for i, c := range clients {
		var count int
		c.callInto(t, &count, "op-server-count")
		if count != n {
			t.Fatalf("server %d counts %d servers, want %d", i, count, n)
		}
	}
	// room broadcasts, each origin to each room: exactly the room's client, once
	for i, c := range clients {
		for j := range clients {
			c.call(t, "op-emit", target{To: []string{fmt.Sprintf("room-%d", j)}}, "ev", fmt.Sprintf("%d>%d", i, j))
		}
	}
	for j, c := range clients {
		got := map[string]int{}
		for range n {
			ev := c.expectEvent(t, "ev")
			var s string
			_ = json.Unmarshal(ev.Args[0], &s)
			got[s]++
		}
		for i := range n {
			if got[fmt.Sprintf("%d>%d", i, j)] != 1 {
				t.Fatalf("client %d got %v, want each %d>%d once", j, got, i, j)
			}
		}
	}
	// except: everyone in "all" but room-j's client
	for i, c := range clients {
		c.call(t, "op-emit", target{To: []string{"all"}, Except: []string{fmt.Sprintf("room-%d", (i+1)%n)}}, "exc", i)
	}
	for j, c := range clients {
		for range n - 1 {
			ev := c.expectEvent(t, "exc")
			var from int
			_ = json.Unmarshal(ev.Args[0], &from)
			if (from+1)%n == j {
				t.Fatalf("client %d got an except broadcast of %d", j, from)
			}
		}
	}
	// binary, from each server to the next one's client
	for i, c := range clients {
		c.call(t, "op-emit-bin", target{To: []string{fmt.Sprintf("room-%d", (i+1)%n)}})
	}
	for j, c := range clients {
		ev := c.expectEvent(t, "bin")
		if len(ev.Bins) != 1 || !bytes.Equal(ev.Bins[0], []byte{1, 2, 3}) || string(ev.Args[1]) != `{"k":1}` {
			t.Fatalf("client %d: binary event %s %v", j, ev.Args, ev.Bins)
		}
	}
	checkFetch(t, clients)
	checkRequests(t, clients, fleetRooms)
	checkMembership(t, clients, !fleetRooms)
	return clients
}

// goEmitter: redisemitter reaches each server's client.
func goEmitter(t *testing.T, redisURL string, clients []*wsClient) {
	e, err := redisemitter.New(redisemitter.Options{URL: redisURL})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for j, c := range clients {
		if err := e.To(fmt.Sprintf("room-%d", j)).Emit("from-go-emitter", j, []byte{9}); err != nil {
			t.Fatal(err)
		}
		ev := c.expectEvent(t, "from-go-emitter")
		if string(ev.Args[0]) != fmt.Sprint(j) || len(ev.Bins) != 1 || ev.Bins[0][0] != 9 {
			t.Fatalf("client %d: emitter event %s %v", j, ev.Args, ev.Bins)
		}
	}
}

// finishFleet checks that nothing arrived twice, then that server i
// disconnects the previous server's client.
func finishFleet(t *testing.T, clients []*wsClient) {
	n := len(clients)
	for _, c := range clients {
		c.expectNone(t, "ev", 100*time.Millisecond)
	}
	for i := 1; i < n; i++ {
		clients[i].call(t, "op-disconnect", target{To: []string{fmt.Sprintf("room-%d", i-1)}}, false)
		clients[i-1].expectEvent(t, "disconnect")
	}
}

func checkFetch(t *testing.T, clients []*wsClient) {
	for i, c := range clients {
		var sockets []fetched
		c.callInto(t, &sockets, "op-fetch", target{To: []string{"all"}})
		if len(sockets) != len(clients) {
			t.Fatalf("server %d fetched %d sockets, want %d", i, len(sockets), len(clients))
		}
		names := []string{}
		for _, s := range sockets {
			var auth struct{ Name string }
			_ = json.Unmarshal(s.Auth, &auth)
			names = append(names, auth.Name)
			if !slices.Contains(s.Rooms, "all") || !slices.Contains(s.Rooms, s.ID) {
				t.Fatalf("server %d: socket %s rooms %v", i, s.ID, s.Rooms)
			}
			if !bytes.Contains(s.Handshake, []byte(`"who"`)) || !bytes.Contains(bytes.ToLower(s.Handshake), []byte(`user-agent`)) {
				t.Fatalf("server %d: handshake without query or user-agent header: %s", i, s.Handshake)
			}
		}
		slices.Sort(names)
		for k, name := range names {
			if name != fmt.Sprintf("c%d", k) {
				t.Fatalf("server %d fetched %v", i, names)
			}
		}
	}
}

func checkRequests(t *testing.T, clients []*wsClient, fleetRooms bool) {
	n := len(clients)
	for i, c := range clients {
		var res opResult
		c.callInto(t, &res, "op-sse-ack", fmt.Sprintf("hi-%d", i))
		if res.Error != "" || len(res.Responses) != n-1 {
			t.Fatalf("server %d: server-side emit answers %+v, want %d", i, res, n-1)
		}
		for _, r := range res.Responses {
			if !strings.Contains(string(r), fmt.Sprintf(`"hi-%d"`, i)) {
				t.Fatalf("server %d: answer %s", i, r)
			}
		}
		c.callInto(t, &res, "op-emit-ack", target{To: []string{"all"}}, 3000)
		if res.Error != "" || len(res.Responses) != n {
			t.Fatalf("server %d: broadcast acks %+v, want %d", i, res, n)
		}
		if fleetRooms {
			checkFleetRooms(t, c, i, n)
		}
		c.callInto(t, &res, "op-sse", fmt.Sprintf("note-%d", i))
	}
	// each server-side emit without ack reached every other server once
	for j, c := range clients {
		from := map[string]int{}
		for range n - 1 {
			ev := c.expectEvent(t, "sse-note")
			from[string(ev.Args[0])]++
		}
		if from[fmt.Sprintf(`"note-%d"`, j)] != 0 || len(from) != n-1 {
			t.Fatalf("client %d: server-side notes %v", j, from)
		}
	}
}

// checkMembership: socketsJoin and socketsLeave from each server. With
// settle (sharded mode) it waits until the join is visible before the
// broadcast: in the dynamic subscription modes the joining server
// subscribes the room's channel only when it applies the join, so a
// broadcast published at once can miss it (Node's sharded adapter alike).
func checkMembership(t *testing.T, clients []*wsClient, settle bool) {
	n := len(clients)
	for i, c := range clients {
		j := (i + 1) % n
		room := fmt.Sprintf("joined-%d", i)
		c.call(t, "op-sockets-join", target{To: []string{fmt.Sprintf("room-%d", j)}}, room)
		// a broadcast from a third server reaches the socket that joined
		k := (i + 2) % n
		if settle {
			testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
				var sockets []fetched
				clients[k].callInto(t, &sockets, "op-fetch", target{To: []string{room}})
				if len(sockets) != 1 {
					return fmt.Errorf("%d sockets in %s", len(sockets), room)
				}
				return nil
			})
		}
		clients[k].call(t, "op-emit", target{To: []string{room}}, "in-joined", room)
		ev := clients[j].expectEvent(t, "in-joined")
		if string(ev.Args[0]) != `"`+room+`"` {
			t.Fatalf("client %d: %s", j, ev.Args)
		}
		c.call(t, "op-sockets-leave", target{To: []string{fmt.Sprintf("room-%d", j)}}, room)
		var sockets []fetched
		clients[k].callInto(t, &sockets, "op-fetch", target{To: []string{room}})
		if len(sockets) != 0 {
			t.Fatalf("after socketsLeave %s still has %d sockets", room, len(sockets))
		}
	}
}

// nodeEmitter: @socket.io/redis-emitter reaches Go sockets.
func nodeEmitter(t *testing.T, redisURL string, peers ...*goPeer) {
	for i, p := range peers {
		c := dialClient(t, p.addr, fmt.Sprintf("e%d", i))
		room := fmt.Sprintf("emit-%d", i)
		c.call(t, "join", room)
		dir, _ := filepath.Abs("../testdata/redisnode")
		cmd := exec.Command("node", "emit.js", room)
		cmd.Dir = dir
		cmd.Env = append(cmd.Environ(), "REDIS_URL="+redisURL)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("emit.js: %v %s", err, out)
		}
		ev := c.expectEvent(t, "from-node-emitter")
		if string(ev.Args[0]) != "42" || len(ev.Bins) != 1 || ev.Bins[0][0] != 7 {
			t.Fatalf("node emitter event %s %v", ev.Args, ev.Bins)
		}
		var sockets []fetched
		c.callInto(t, &sockets, "op-fetch", target{To: []string{"emitter-joined"}, Local: true})
		if len(sockets) != 1 {
			t.Fatalf("emitter socketsJoin: %d sockets in emitter-joined", len(sockets))
		}
		c.expectNone(t, "from-node-emitter", 100*time.Millisecond)
	}
}

// checkFleetRooms: server i's AllRooms lists every server's rooms.
func checkFleetRooms(t *testing.T, c *wsClient, i, n int) {
	var rooms []string
	c.callInto(t, &rooms, "op-rooms")
	for k := range n {
		if !slices.Contains(rooms, fmt.Sprintf("room-%d", k)) || !slices.Contains(rooms, "all") {
			t.Fatalf("server %d: rooms %v", i, rooms)
		}
	}
}
