package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// room fixture: three clients a, b, c; a and b in "r1", c in "r2".
type trio struct {
	env  *testEnv
	cl   map[string]*tclient
	sock map[string]*Socket
}

func newTrio(t *testing.T, opts Options) *trio {
	env := newEnv(t, opts)
	tr := &trio{env: env, cl: map[string]*tclient{}, sock: map[string]*Socket{}}
	socks := make(chan *Socket, 3)
	env.io.OnConnection(func(s *Socket) {
		var a struct{ Name, Room string }
		_ = json.Unmarshal(s.Handshake().Auth, &a)
		s.SetData(a.Name)
		s.Join(a.Room)
		_ = s.On("to", func(room, msg string) { _ = s.To(room).Emit("msg", msg) })
		_ = s.On("bcast", func(msg string) { _ = s.Broadcast().Emit("msg", msg) })
		socks <- s
	})
	for _, n := range []struct{ name, room string }{{"a", "r1"}, {"b", "r1"}, {"c", "r2"}} {
		c := env.dial("")
		c.connect("/", fmt.Sprintf(`{"name":%q,"room":%q}`, n.name, n.room))
		tr.cl[n.name] = c
		s := <-socks
		tr.sock[n.name] = s
	}
	return tr
}

// marker broadcasts a marker to everyone and checks it is the next packet
// each client reads: proof that nothing else was queued before it.
func (tr *trio) marker(t *testing.T) {
	t.Helper()
	if err := tr.env.io.Emit("marker"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c"} {
		tr.cl[n].expect(`2["marker"]`)
	}
}

func (tr *trio) expectMsg(t *testing.T, who string, msg string) {
	t.Helper()
	for _, n := range strings.Split(who, "") {
		tr.cl[n].expect(`2["msg","` + msg + `"]`)
	}
}

func TestBroadcastOperators(t *testing.T) {
	tr := newTrio(t, Options{})
	io := tr.env.io
	steps := []struct {
		name string
		do   func() error
		who  string
	}{
		{"all", func() error { return io.Emit("msg", "all") }, "abc"},
		{"to r1", func() error { return io.To("r1").Emit("msg", "r1") }, "ab"},
		{"to r1 r2", func() error { return io.To("r1").In("r2").Emit("msg", "both") }, "abc"},
		{"except r1", func() error { return io.Except("r1").Emit("msg", "ex") }, "c"},
		{"to r1 except b", func() error { return io.To("r1").Except(tr.sock["b"].ID()).Emit("msg", "rb") }, "a"},
		{"socket id room", func() error { return io.To(tr.sock["c"].ID()).Emit("msg", "id") }, "c"},
		{"local compress", func() error { return io.Local().Compress(false).To("r2").Emit("msg", "loc") }, "c"},
		{"namespace", func() error { return io.Of("/").To("r1").Emit("msg", "nsp") }, "ab"},
		{"nobody", func() error { return io.To("nope").Emit("msg", "x") }, ""},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for _, n := range st.who {
			if m := tr.cl[string(n)].next(); !strings.HasPrefix(m.text, `2["msg",`) {
				t.Fatalf("%s: client %c got %q", st.name, n, m.text)
			}
		}
		tr.marker(t)
	}
	// socket.To excludes the sender; socket.Broadcast too.
	tr.cl["a"].send(`2["to","r1","from-a"]`)
	tr.expectMsg(t, "b", "from-a")
	tr.marker(t)
	tr.cl["c"].send(`2["bcast","from-c"]`)
	tr.expectMsg(t, "ab", "from-c")
	tr.marker(t)
}

func TestBroadcastOperatorImmutable(t *testing.T) {
	tr := newTrio(t, Options{})
	base := tr.env.io.To("r2")
	_ = base.To("r1")
	if got := base.Options().Rooms; !slices.Equal(got, []string{"r2"}) {
		t.Fatalf("rooms %q, want [r2]", got)
	}
}

func TestFetchSocketsJoinLeaveDisconnect(t *testing.T) {
	tr := newTrio(t, Options{})
	io := tr.env.io
	ctx := context.Background()
	rs, err := io.In("r1").FetchSockets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rs {
		names = append(names, string(r.Data))
		if r.Local() == nil || !slices.Contains(r.Rooms, "r1") || !slices.Contains(r.Rooms, r.ID) {
			t.Fatalf("info %+v", r.SocketInfo)
		}
	}
	sort.Strings(names)
	if fmt.Sprint(names) != `["a" "b"]` {
		t.Fatalf("fetched %v", names)
	}
	// RemoteSocket methods go through the adapter.
	rs[0].Join("solo")
	if err := io.To("solo").Emit("msg", "solo"); err != nil {
		t.Fatal(err)
	}
	who := rs[0].Local()
	for n, s := range tr.sock {
		if s == who {
			tr.expectMsg(t, n, "solo")
		}
	}
	tr.marker(t)

	io.In("r2").SocketsJoin("r1", "x")
	io.To("x").Emit("msg", "x")
	tr.expectMsg(t, "c", "x")
	io.To("r1").Emit("msg", "r1")
	tr.expectMsg(t, "abc", "r1")
	tr.marker(t)
	io.In("r2").SocketsLeave("r1")
	io.To("r1").Emit("msg", "r1b")
	tr.expectMsg(t, "ab", "r1b")
	tr.marker(t)

	var rsn reasons
	tr.sock["c"].OnDisconnect(rsn.add)
	io.In("r2").DisconnectSockets(false)
	tr.cl["c"].expect(`1`)
	rsn.wait(t, "server namespace disconnect")

	var rsn2 reasons
	tr.sock["a"].OnDisconnect(rsn2.add)
	io.In(tr.sock["a"].ID()).DisconnectSockets(true)
	tr.cl["a"].expect(`1`)
	tr.cl["a"].expectClosed()
	rsn2.wait(t, "server namespace disconnect")
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := len(io.Sockets()); n != 1 {
			return fmt.Errorf("%d sockets left", n)
		}
		return nil
	})
}

func TestBroadcastEmitWithAck(t *testing.T) {
	tr := newTrio(t, Options{})
	io := tr.env.io
	type res struct {
		got []json.RawMessage
		err error
	}
	ch := make(chan res, 1)
	go func() {
		got, err := io.To("r1").Timeout(5*time.Second).EmitWithAck(context.Background(), "q", 1)
		ch <- res{got, err}
	}()
	for _, n := range []string{"a", "b"} {
		p := tr.cl[n].expectPrefix("2")
		var id int
		if _, err := fmt.Sscanf(p, `2%d["q",1]`, &id); err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		tr.cl[n].send(fmt.Sprintf(`3%d[%q,"ignored"]`, id, n))
	}
	r := <-ch
	if r.err != nil || len(r.got) != 2 {
		t.Fatalf("got %s, %v", r.got, r.err)
	}
	got := []string{string(r.got[0]), string(r.got[1])}
	sort.Strings(got)
	if fmt.Sprint(got) != `["a" "b"]` {
		t.Fatalf("responses %v", got)
	}

	// Partial: only a answers before the timeout.
	go func() {
		got, err := io.To("r1").Timeout(300*time.Millisecond).EmitWithAck(context.Background(), "q", 2)
		ch <- res{got, err}
	}()
	p := tr.cl["a"].expectPrefix("2")
	tr.cl["b"].expectPrefix("2")
	var id int
	fmt.Sscanf(p, `2%d`, &id)
	tr.cl["a"].send(fmt.Sprintf(`3%d["late?"]`, id))
	r = <-ch
	if !errors.Is(r.err, ErrTimeout) || len(r.got) != 1 || string(r.got[0]) != `"late?"` {
		t.Fatalf("partial: got %s, %v", r.got, r.err)
	}

	// Nobody targeted: complete at once, empty.
	got0, err := io.To("nobody").EmitWithAck(context.Background(), "q")
	if err != nil || len(got0) != 0 {
		t.Fatalf("empty: %v %v", got0, err)
	}
}

func TestServerSideEmitInMemory(t *testing.T) {
	env := newEnv(t, Options{})
	called := make(chan string, 1)
	if err := env.io.OnServerSideEmit("ping-all", func(s string, ack func(...any)) { called <- s; ack("pong") }); err != nil {
		t.Fatal(err)
	}
	got, err := env.io.ServerSideEmitWithAck(context.Background(), "ping-all", "x")
	if err != nil || len(got) != 0 {
		t.Fatalf("no other servers: got %v, %v; want empty", got, err)
	}
	if err := env.io.ServerSideEmit("ping-all", "x"); err != nil {
		t.Fatal(err)
	}
	if n, err := env.io.ServerCount(context.Background()); n != 1 || err != nil {
		t.Fatalf("ServerCount = %d, %v", n, err)
	}
	// What a cluster adapter does on receipt: dispatch locally, collect acks.
	acks := make(chan []json.RawMessage, 1)
	env.io.Of("/").DispatchServerSideEmit([]json.RawMessage{json.RawMessage(`"ping-all"`), json.RawMessage(`"remote"`)},
		func(a []json.RawMessage) { acks <- a })
	if s := <-called; s != "remote" {
		t.Fatalf("handler got %q", s)
	}
	if a := <-acks; len(a) != 1 || string(a[0]) != `"pong"` {
		t.Fatalf("ack %s", a)
	}
}

// TestBroadcastEncodesOnce: a broadcast to several local sockets encodes
// its packet once (one text frame shared by every receiver), whatever the
// number of receivers and however the rooms overlap.
func TestBroadcastEncodesOnce(t *testing.T) {
	tr := newTrio(t, Options{})
	io := tr.env.io
	var encodes atomic.Int64
	testHookEncode = func() { encodes.Add(1) }
	t.Cleanup(func() { testHookEncode = nil })
	for _, tt := range []struct {
		name, msg string
		do        func(msg string) error
		who       string
	}{
		{"all", "all", func(m string) error { return io.Emit("msg", m) }, "abc"},
		{"to r1 and r2", "both", func(m string) error { return io.To("r1").To("r2").Emit("msg", m) }, "abc"},
		{"to r1", "r1", func(m string) error { return io.To("r1").Emit("msg", m) }, "ab"},
		{"from a socket", "ba", func(m string) error { return tr.sock["a"].Broadcast().Emit("msg", m) }, "bc"},
	} {
		encodes.Store(0)
		if err := tt.do(tt.msg); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		tr.expectMsg(t, tt.who, tt.msg)
		if got, want := encodes.Load(), int64(1); got != want {
			t.Errorf("%s: %d encodings for %d receivers, want %d", tt.name, got, len(tt.who), want)
		}
	}
}
