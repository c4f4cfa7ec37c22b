package redisadapter

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stickyd/stickyd/internal/redistest"
	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/socketio"
)

// goPeer is a standalone Go server of the fleet: a socketio.Server on a
// Peer, serving the test event set (the same as testdata/redisnode/server.js).
type goPeer struct {
	name string
	peer *Peer
	io   *socketio.Server
	http *httptest.Server
	addr string
}

func startGoPeer(t testing.TB, redisURL, name string, opts ...func(*Options)) *goPeer {
	t.Helper()
	o := Options{URL: redisURL, RequestTimeout: 2 * time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Warn, Output: os.Stderr})}
	for _, f := range opts {
		f(&o)
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	g := &goPeer{name: name, peer: p}
	g.io = socketio.NewServer(socketio.Options{Adapter: p.Adapter})
	registerEvents(g.io, name)
	g.http = httptest.NewServer(g.io)
	g.addr = strings.TrimPrefix(g.http.URL, "http://")
	t.Cleanup(g.close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Sync(ctx); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return g
}

func (g *goPeer) close() {
	g.http.CloseClientConnections()
	g.http.Close()
	_ = g.io.Close()
	_ = g.peer.Close()
}

// target selects sockets as a BroadcastOperator does.
type target struct {
	To     []string `json:"to"`
	Except []string `json:"except"`
	Local  bool     `json:"local"`
}

func (t target) operator(io *socketio.Server) *socketio.BroadcastOperator {
	op := io.To(t.To...).Except(t.Except...)
	if t.Local {
		op = op.Local()
	}
	return op
}

type opResult struct {
	Responses []json.RawMessage `json:"responses"`
	Error     string            `json:"error,omitempty"`
}

func result(responses []json.RawMessage, err error) opResult {
	r := opResult{Responses: responses}
	if r.Responses == nil {
		r.Responses = []json.RawMessage{}
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

type fetched struct {
	ID        string          `json:"id"`
	Rooms     []string        `json:"rooms"`
	Auth      json.RawMessage `json:"auth"`
	Handshake json.RawMessage `json:"handshake"`
}

func ctx5() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

// registerEvents installs the test event set; name answers "who".
func registerEvents(io *socketio.Server, name string) {
	_ = io.OnServerSideEmit("sse-echo", func(arg json.RawMessage, ack socketio.AckFunc) { _ = ack([]any{name, arg}) })
	_ = io.OnServerSideEmit("sse-note", func(arg json.RawMessage) { _ = io.Local().Emit("sse-note", arg, name) })
	io.Of("/custom").OnConnection(func(s *socketio.Socket) { _ = s.Emit("auth", s.Handshake().Auth) })
	io.OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("auth", s.Handshake().Auth)
		_ = s.On("join", func(room string, ack socketio.AckFunc) { s.Join(room); _ = ack(name) })
		_ = s.On("op-emit", func(t target, event string, payload json.RawMessage, ack socketio.AckFunc) {
			_ = t.operator(io).Emit(event, payload)
			_ = ack(name)
		})
		_ = s.On("op-emit-bin", func(t target, ack socketio.AckFunc) {
			_ = t.operator(io).Emit("bin", []byte{1, 2, 3}, map[string]int{"k": 1})
			_ = ack(name)
		})
		_ = s.On("op-sockets-join", func(t target, room string, ack socketio.AckFunc) { t.operator(io).SocketsJoin(room); _ = ack(name) })
		_ = s.On("op-sockets-leave", func(t target, room string, ack socketio.AckFunc) { t.operator(io).SocketsLeave(room); _ = ack(name) })
		_ = s.On("op-disconnect", func(t target, closeConn bool, ack socketio.AckFunc) {
			t.operator(io).DisconnectSockets(closeConn)
			_ = ack(name)
		})
		_ = s.On("op-fetch", func(t target, ack socketio.AckFunc) {
			ctx, cancel := ctx5()
			defer cancel()
			sockets, _ := t.operator(io).FetchSockets(ctx)
			out := []fetched{}
			for _, rs := range sockets {
				hs, _ := json.Marshal(rs.Handshake)
				out = append(out, fetched{ID: rs.ID, Rooms: rs.Rooms, Auth: rs.Handshake.Auth, Handshake: hs})
			}
			_ = ack(out)
		})
		_ = s.On("op-emit-ack", func(t target, timeoutMS int, ack socketio.AckFunc) {
			op := t.operator(io).Timeout(time.Duration(timeoutMS) * time.Millisecond)
			responses, err := op.EmitWithAck(context.Background(), "question", name)
			_ = ack(result(responses, err))
		})
		_ = s.On("op-sse-ack", func(arg json.RawMessage, ack socketio.AckFunc) {
			ctx, cancel := ctx5()
			defer cancel()
			responses, err := io.ServerSideEmitWithAck(ctx, "sse-echo", arg)
			_ = ack(result(responses, err))
		})
		_ = s.On("op-sse", func(arg json.RawMessage, ack socketio.AckFunc) {
			_ = ack(result(nil, io.ServerSideEmit("sse-note", arg)))
		})
		_ = s.On("op-server-count", func(ack socketio.AckFunc) {
			ctx, cancel := ctx5()
			defer cancel()
			n, _ := io.ServerCount(ctx)
			_ = ack(n)
		})
		_ = s.On("op-rooms", func(ack socketio.AckFunc) {
			ctx, cancel := ctx5()
			defer cancel()
			rooms, _ := Rooms(ctx, io.Of("/"))
			_ = ack(rooms)
		})
	})
}

// nodePeer is testdata/redisnode/server.js on the test's Redis.
type nodePeer struct{ addr string }

var listeningRE = regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)

// env adds variables (REDIS_SHARDED=1 for the sharded adapter).
func startNodePeer(t testing.TB, redisURL string, env ...string) *nodePeer {
	t.Helper()
	dir, _ := filepath.Abs("../testdata/redisnode")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "@socket.io", "redis-adapter"))
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and `npm ci --prefix testdata/redisnode` are required under CI=true: %v", err)
		}
		t.Skipf("node or testdata/redisnode/node_modules missing (%v): run npm ci --prefix testdata/redisnode", err)
	}
	cmd := exec.Command(node, "server.js")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "PORT=0", "REDIS_URL="+redisURL), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	return &nodePeer{addr: testutil.StartProcess(t, "node peer", cmd, out, listeningRE)}
}

func startRedis(t testing.TB) *redistest.Server { return redistest.Start(t) }
