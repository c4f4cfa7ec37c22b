package redisadapter

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/socketio"
)

var servingRE = regexp.MustCompile(`serving: addr=(127\.0\.0\.1:\d+)`)

// startRefapp builds testdata/refapp and runs it standalone with REDIS_URL.
func startRefapp(t *testing.T, redisURL string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "refapp")
	build := exec.Command("go", "build", "-o", bin, "../testdata/refapp")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build refapp: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "HOST=127.0.0.1", "PORT=0", "REDIS_URL="+redisURL, "CLUSTER_OPS=1")
	errs, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	return testutil.StartProcess(t, "refapp", cmd, errs, servingRE)
}

// The reference app with REDIS_URL is one fleet peer like the bench kit's
// Node peer: the bench events broadcast, count and server-ping span both.
func TestRefappIsAFleetPeer(t *testing.T) {
	r := startRedis(t)
	node := startNodePeer(t, r.URL)
	app := startRefapp(t, r.URL)
	clients := []*wsClient{dialClient(t, app, "app"), dialClient(t, node.addr, "node")}
	for _, c := range clients {
		c.call(t, "join", "r")
	}
	for i, c := range clients {
		var n int
		c.callInto(t, &n, "count", "r")
		if n != 2 {
			t.Fatalf("client %d: count %d, want 2", i, n)
		}
		c.callInto(t, &n, "server-ping")
		if n != 1 {
			t.Fatalf("client %d: server-ping %d, want 1", i, n)
		}
		c.callInto(t, &n, "op-server-count")
		if n != 2 {
			t.Fatalf("client %d: server count %d, want 2", i, n)
		}
		var rooms []string
		c.callInto(t, &rooms, "op-rooms")
		if !slices.Contains(rooms, "r") || !slices.Contains(rooms, clients[0].id()) || !slices.Contains(rooms, clients[1].id()) {
			t.Fatalf("client %d: rooms %v", i, rooms)
		}
		var ok string
		c.callInto(t, &ok, "broadcast", "r", map[string]int{"from": i})
		for _, d := range clients {
			ev := d.expectEvent(t, "bcast")
			var got struct{ From int }
			_ = json.Unmarshal(ev.Args[0], &got)
			if got.From != i {
				t.Fatalf("bcast from %d, want %d", got.From, i)
			}
		}
	}
	for _, c := range clients {
		c.expectNone(t, "bcast", 100*time.Millisecond)
	}
}

// The official socket.io-client on a Go peer and on the Node server: room
// broadcasts and binary from each side reach both, once; count and
// server-ping span the fleet.
func TestOfficialClientsOnGoAndNode(t *testing.T) {
	r := startRedis(t)
	node := startNodePeer(t, r.URL)
	g := startGoPeer(t, r.URL, "go")
	g.io.OnConnection(func(s *socketio.Socket) {
		_ = s.On("broadcast", func(room string, payload json.RawMessage, ack socketio.AckFunc) {
			_ = g.io.To(room).Emit("bcast", payload)
			_ = ack("ok")
		})
		_ = s.On("count", func(room string, ack socketio.AckFunc) {
			ctx, cancel := ctx5()
			defer cancel()
			sockets, _ := g.io.In(room).FetchSockets(ctx)
			_ = ack(len(sockets))
		})
		_ = s.On("server-ping", func(ack socketio.AckFunc) {
			ctx, cancel := ctx5()
			defer cancel()
			responses, _ := g.io.ServerSideEmitWithAck(ctx, "ping-all")
			_ = ack(len(responses))
		})
	})
	_ = g.io.OnServerSideEmit("ping-all", func(ack socketio.AckFunc) { _ = ack("go") })
	dir, _ := filepath.Abs("../testdata/redisnode")
	cmd := exec.Command("node", "clients.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "URLS=http://"+g.addr+",http://"+node.addr)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "clients: ok") {
		t.Fatalf("clients.js: %v\n%s", err, out)
	}
}
