package adapter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/socketio"
)

// fixture: three workers; a1, b1 on worker 1, a2 on 2, a3 on 3; rooms
// r1 = {a1, b1}, r2 = {a1, a2}.
type fixture struct {
	tc             *testCluster
	w1, w2, w3     *testWorker
	a1, b1, a2, a3 *client
	all            []*client
}

func ackWith(prefix string) func(e event) []any {
	return func(e event) []any { return []any{prefix + "-" + e.name} }
}

func newFixture(t *testing.T, setup func(w *testWorker)) *fixture {
	f := &fixture{tc: newTestCluster(t, 3, setup)}
	f.w1, f.w2, f.w3 = f.tc.workers[0], f.tc.workers[1], f.tc.workers[2]
	f.a1 = dial(t, f.w1, "a1", ackWith("a1"))
	f.b1 = dial(t, f.w1, "b1", ackWith("b1"))
	f.a2 = dial(t, f.w2, "a2", ackWith("a2"))
	f.a3 = dial(t, f.w3, "a3", nil) // never acks
	f.all = []*client{f.a1, f.b1, f.a2, f.a3}
	f.w1.socket(t, f.a1.sid).Join("r1", "r2")
	f.w1.socket(t, f.b1.sid).Join("r1")
	f.w2.socket(t, f.a2.sid).Join("r2")
	f.tc.waitRoom(t, "r1", 1)
	f.tc.waitRoom(t, "r2", 1, 2)
	for _, c := range f.all {
		f.tc.waitRoom(t, c.sid, map[*client]uint32{f.a1: 1, f.b1: 1, f.a2: 2, f.a3: 3}[c])
	}
	return f
}

// received emits a marker from origin to every socket and returns how many
// "ev" events each client got before it.
func (f *fixture) received(t *testing.T, origin *testWorker) map[string]int {
	t.Helper()
	if err := origin.io.Emit("marker"); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, c := range f.all {
		for _, e := range c.until(t, "marker") {
			if e.name != "ev" {
				t.Fatalf("%s: unexpected event %q", c.name, e.name)
			}
			got[c.name]++
		}
	}
	return got
}

func TestBroadcastExactlyOnce(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	f := newFixture(t, nil)
	tests := []struct {
		name   string
		origin *testWorker
		emit   func(io *socketio.Server) error
		want   map[string]int
	}{
		{"two rooms from a worker with no member", f.w3, func(io *socketio.Server) error { return io.To("r1", "r2").Emit("ev", 1) },
			map[string]int{"a1": 1, "b1": 1, "a2": 1}},
		{"except", f.w3, func(io *socketio.Server) error { return io.To("r1", "r2").Except("r2").Emit("ev") },
			map[string]int{"b1": 1}},
		{"except a socket id", f.w2, func(io *socketio.Server) error { return io.Except(f.a1.sid).Emit("ev") },
			map[string]int{"b1": 1, "a2": 1, "a3": 1}},
		{"whole namespace", f.w2, func(io *socketio.Server) error { return io.Emit("ev") },
			map[string]int{"a1": 1, "b1": 1, "a2": 1, "a3": 1}},
		{"local only", f.w1, func(io *socketio.Server) error { return io.Local().Emit("ev") },
			map[string]int{"a1": 1, "b1": 1}},
		{"local only, rooms", f.w2, func(io *socketio.Server) error { return io.Local().To("r2").Emit("ev") },
			map[string]int{"a2": 1}},
		{"to a socket id on another worker", f.w3, func(io *socketio.Server) error { return io.To(f.a2.sid).Emit("ev") },
			map[string]int{"a2": 1}},
		{"room and id of the same socket", f.w2, func(io *socketio.Server) error { return io.To("r1", f.a1.sid).Emit("ev") },
			map[string]int{"a1": 1, "b1": 1}},
		{"compress off", f.w2, func(io *socketio.Server) error { return io.Compress(false).To("r1").Emit("ev") },
			map[string]int{"a1": 1, "b1": 1}},
		{"room nobody is in", f.w1, func(io *socketio.Server) error { return io.To("none").Emit("ev") },
			map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.emit(tt.origin.io); err != nil {
				t.Fatal(err)
			}
			if got := f.received(t, tt.origin); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("volatile reaches each member at most once", func(t *testing.T) {
		if err := f.w3.io.Volatile().To("r2").Emit("ev"); err != nil {
			t.Fatal(err)
		}
		got := f.received(t, f.w3)
		for name, n := range got {
			if n > 1 || (name != "a1" && name != "a2") {
				t.Fatalf("got %v, want at most one each for a1 and a2", got)
			}
		}
	})
}

func TestBroadcastOrder(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	f := newFixture(t, nil)
	const n = 200
	for i := 0; i < n; i++ {
		if err := f.w3.io.To("r2").Emit("ev", i); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*client{f.a1, f.a2} {
		for i := 0; i < n; i++ {
			e := c.next(t)
			var got int
			json.Unmarshal(e.args[0], &got)
			if e.name != "ev" || got != i {
				t.Fatalf("%s: event %d is %s %v", c.name, i, e.name, got)
			}
		}
	}
}

// fetchRooms returns each socket's rooms (own id left out), cluster-wide,
// as seen from w.
func fetchRooms(t *testing.T, w *testWorker) map[string][]string {
	t.Helper()
	socks, err := w.io.FetchSockets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, s := range socks {
		var rooms []string
		for _, r := range s.Rooms {
			if r != s.ID {
				rooms = append(rooms, r)
			}
		}
		sort.Strings(rooms)
		out[s.ID] = rooms
	}
	return out
}

func TestSocketsJoinLeaveDisconnectFromAnotherWorker(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	f := newFixture(t, nil)
	// Worker 3 holds none of r1's sockets.
	f.w3.io.In("r1").Except(f.b1.sid).SocketsJoin("k")
	f.w3.io.In("r1").SocketsJoin("j")
	f.tc.waitRoom(t, "j", 1)
	f.tc.waitRoom(t, "k", 1)
	rooms := fetchRooms(t, f.w3) // applied in order on worker 1 before it answers
	if got, want := rooms[f.a1.sid], []string{"j", "k", "r1", "r2"}; !slices.Equal(got, want) {
		t.Fatalf("a1 rooms %v, want %v", got, want)
	}
	if got, want := rooms[f.b1.sid], []string{"j", "r1"}; !slices.Equal(got, want) {
		t.Fatalf("b1 rooms %v, want %v", got, want)
	}
	if err := f.w2.io.To("j").Emit("ev"); err != nil {
		t.Fatal(err)
	}
	if got, want := f.received(t, f.w2), map[string]int{"a1": 1, "b1": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after join: got %v, want %v", got, want)
	}

	f.w3.io.In(f.a1.sid).SocketsLeave("j")
	f.w3.io.In("j").SocketsLeave("k") // b1 (in j) was never in k; a1 left j first
	rooms = fetchRooms(t, f.w3)
	if got, want := rooms[f.a1.sid], []string{"k", "r1", "r2"}; !slices.Equal(got, want) {
		t.Fatalf("a1 rooms %v, want %v", got, want)
	}
	if err := f.w2.io.To("j").Emit("ev"); err != nil {
		t.Fatal(err)
	}
	if got, want := f.received(t, f.w2), map[string]int{"b1": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after leave: got %v, want %v", got, want)
	}

	// The last member of r2 on worker 2 leaves: the hub forgets worker 2.
	f.w1.io.In("r2").Except("r1").SocketsLeave("r2")
	f.tc.waitRoom(t, "r2", 1)

	f.w3.io.In(f.a2.sid).DisconnectSockets(false)
	if e := f.a2.next(t); e.name != "disconnect" {
		t.Fatalf("a2 got %q, want disconnect", e.name)
	}
	f.tc.waitRoom(t, f.a2.sid)
	f.w1.io.In("r1").DisconnectSockets(true)
	for _, c := range []*client{f.a1, f.b1} {
		if e := c.next(t); e.name != "disconnect" {
			t.Fatalf("%s got %q, want disconnect", c.name, e.name)
		}
	}
	f.tc.waitRoom(t, "r1")
}

type userData struct {
	User string `json:"user"`
}

func TestFetchSocketsAndRemoteSockets(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	f := newFixture(t, nil)
	f.w1.socket(t, f.a1.sid).SetData(userData{User: "u1"})
	socks, err := f.w3.io.FetchSockets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*socketio.RemoteSocket{}
	for _, s := range socks {
		byID[s.ID] = s
	}
	if len(socks) != 4 || len(byID) != 4 {
		t.Fatalf("fetched %d sockets (%d ids), want 4", len(socks), len(byID))
	}
	a1 := byID[f.a1.sid]
	if a1 == nil || string(a1.Data) != `{"user":"u1"}` || a1.Handshake.Query.Get("EIO") != "4" || a1.Local() != nil {
		t.Fatalf("a1 fetched as %+v", a1)
	}
	if byID[f.a3.sid].Local() == nil {
		t.Fatal("a3 is local to worker 3 but has no Local socket")
	}
	inR2, err := f.w3.io.In("r2").FetchSockets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range inR2 {
		ids = append(ids, s.ID)
	}
	sort.Strings(ids)
	want := []string{f.a1.sid, f.a2.sid}
	sort.Strings(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("r2 sockets %v, want %v", ids, want)
	}

	a2 := byID[f.a2.sid]
	if err := a2.Emit("hello", 5); err != nil {
		t.Fatal(err)
	}
	if e := f.a2.next(t); e.name != "hello" || string(e.args[0]) != "5" {
		t.Fatalf("a2 got %s %s, want hello 5", e.name, e.args)
	}
	res, err := a2.EmitWithAck(context.Background(), "question")
	if err != nil || string(res) != `"a2-question"` {
		t.Fatalf("remote ack: %s, %v", res, err)
	}
	f.a2.next(t) // the question
	a2.Join("z")
	f.tc.waitRoom(t, "z", 2)
	a2.Leave("z")
	f.tc.waitRoom(t, "z")
	a2.Disconnect(true)
	if e := f.a2.next(t); e.name != "disconnect" {
		t.Fatalf("a2 got %q, want disconnect", e.name)
	}

	var rooms []string
	wantRooms := []string{f.a1.sid, f.b1.sid, f.a3.sid, "r1", "r2"}
	sort.Strings(wantRooms)
	testutil.CheckFor(t, wait, time.Millisecond, func() error {
		rooms, err = Rooms(context.Background(), f.w1.io.Of("/"))
		if err != nil || !slices.Equal(rooms, wantRooms) {
			return fmt.Errorf("cluster rooms %v (%v), want %v", rooms, err, wantRooms)
		}
		return nil
	})
	members, err := Sockets(context.Background(), f.w3.io.Of("/"), "r1")
	want = []string{f.a1.sid, f.b1.sid}
	sort.Strings(want)
	if err != nil || !slices.Equal(members, want) {
		t.Fatalf("sockets in r1: %v (%v), want %v", members, err, want)
	}
}

func (c *Cluster) adapterOf(t testing.TB, nsp string) *Adapter {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.adapters[nsp]
	if a == nil {
		t.Fatalf("no adapter for %q", nsp)
	}
	return a
}

func TestServerSideEmitAndServerCount(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	notes := make(chan string, 8)
	f := newFixture(t, func(w *testWorker) {
		id := w.id
		w.io.OnServerSideEmit("ping", func(n int, ack socketio.AckFunc) {
			if ack != nil {
				ack(fmt.Sprintf("pong-%d-%d", id, n))
			}
		})
		w.io.OnServerSideEmit("note", func(s string) { notes <- fmt.Sprintf("%d:%s", id, s) })
	})
	got, err := f.w1.io.ServerSideEmitWithAck(context.Background(), "ping", 7)
	if err != nil {
		t.Fatal(err)
	}
	answers := sortedStrings(t, got)
	if want := []string{"pong-2-7", "pong-3-7"}; !slices.Equal(answers, want) {
		t.Fatalf("answers %v, want %v", answers, want)
	}
	if err := f.w2.io.ServerSideEmit("note", "hi"); err != nil {
		t.Fatal(err)
	}
	var heard []string
	for len(heard) < 2 {
		select {
		case n := <-notes:
			heard = append(heard, n)
		case <-time.After(wait):
			t.Fatalf("heard %v only", heard)
		}
	}
	sort.Strings(heard)
	if want := []string{"1:hi", "3:hi"}; !slices.Equal(heard, want) {
		t.Fatalf("heard %v, want %v", heard, want)
	}
	for _, w := range f.tc.workers {
		if n, err := w.io.ServerCount(context.Background()); n != 3 || err != nil {
			t.Fatalf("worker %d: server count %d, %v, want 3", w.id, n, err)
		}
	}
}

func TestBroadcastWithAcks(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	f := newFixture(t, nil)
	got, err := f.w3.io.To("r1", "r2").Timeout(wait).EmitWithAck(context.Background(), "ask")
	if err != nil {
		t.Fatal(err)
	}
	answers := sortedStrings(t, got)
	if want := []string{"a1-ask", "a2-ask", "b1-ask"}; !slices.Equal(answers, want) {
		t.Fatalf("answers %v, want %v", answers, want)
	}
	for _, c := range []*client{f.a1, f.b1, f.a2} {
		c.next(t)
	}

	// a3 never answers: the timeout resolves with the others' acks.
	start := time.Now()
	got, err = f.w1.io.Timeout(300*time.Millisecond).EmitWithAck(context.Background(), "ask")
	if !errors.Is(err, socketio.ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d acks with the timeout, want 3: %s", len(got), got)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("resolved after %v, before the timeout", d)
	}
}

// blockingData blocks its JSON encoding (done on the worker's link reader
// when another worker fetches the socket) until release is closed.
type blockingData struct {
	entered chan struct{}
	once    *sync.Once
	release chan struct{}
}

func (b blockingData) MarshalJSON() ([]byte, error) {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	return []byte(`"late"`), nil
}

func TestDeadWorkerResolvesAtOnce(t *testing.T) {
	for _, how := range []string{"fetchSockets", "serverSideEmit"} {
		t.Run(how, func(t *testing.T) {
			testutil.CheckNoLeaks(t, leakWait)
			block := blockingData{entered: make(chan struct{}), once: &sync.Once{}, release: make(chan struct{})}
			f := newFixture(t, func(w *testWorker) {
				id := w.id
				w.io.OnServerSideEmit("ping", func(ack socketio.AckFunc) {
					if id == 2 { // stuck until released
						close(block.entered)
						<-block.release
					}
					ack(id)
				})
			})
			var releaseOnce sync.Once
			release := func() { releaseOnce.Do(func() { close(block.release) }) }
			defer release()
			if how == "fetchSockets" {
				f.w2.socket(t, f.a2.sid).SetData(block)
			}
			type result struct {
				n   int
				err error
			}
			done := make(chan result, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				if how == "fetchSockets" {
					s, err := f.w3.io.FetchSockets(ctx)
					done <- result{len(s), err}
				} else {
					s, err := f.w3.io.ServerSideEmitWithAck(ctx, "ping")
					done <- result{len(s), err}
				}
			}()
			select {
			case <-block.entered:
			case <-time.After(wait):
				t.Fatal("worker 2 never got the request")
			}
			killed := time.Now()
			f.tc.hub.WorkerGone(2)
			var r result
			select {
			case r = <-done:
			case <-time.After(wait):
				t.Fatal("the request did not resolve")
			}
			if d := time.Since(killed); d > 100*time.Millisecond {
				t.Errorf("resolved %v after the worker died, want within 100ms", d)
			}
			want := map[string]int{"fetchSockets": 3, "serverSideEmit": 1}[how]
			if r.err != nil || r.n != want {
				t.Fatalf("got %d results, %v; want %d, nil", r.n, r.err, want)
			}
			if n, _ := f.w3.io.ServerCount(context.Background()); n != 2 {
				t.Fatalf("server count %d after the death, want 2", n)
			}
			release() // worker 2's reader was stuck in the request
			select {
			case err := <-f.w2.lost:
				if !errors.Is(err, ErrLinkClosed) {
					t.Fatalf("worker 2 lost its link with %v, want ErrLinkClosed", err)
				}
			case <-time.After(wait):
				t.Fatal("worker 2 was not told its link is lost")
			}
		})
	}
}

func TestBroadcastAckWorkerDies(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	f := newFixture(t, nil)
	type result struct {
		got []json.RawMessage
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, err := f.w1.io.Timeout(wait).EmitWithAck(context.Background(), "ask")
		done <- result{got, err}
	}()
	// a3 (worker 3) got the packet and will never answer; the others did.
	if e := f.a3.next(t); e.name != "ask" {
		t.Fatalf("a3 got %q, want ask", e.name)
	}
	for _, c := range []*client{f.a1, f.b1, f.a2} {
		if e := c.next(t); e.name != "ask" {
			t.Fatalf("%s got %q, want ask", c.name, e.name)
		}
	}
	killed := time.Now()
	f.tc.hub.WorkerGone(3)
	select {
	case r := <-done:
		if d := time.Since(killed); d > 100*time.Millisecond {
			t.Errorf("resolved %v after the worker died, want within 100ms", d)
		}
		if r.err != nil || len(r.got) != 3 {
			t.Fatalf("got %s, %v; want the 3 acks of the live workers", r.got, r.err)
		}
	case <-time.After(wait):
		t.Fatal("the broadcast acks did not resolve when worker 3 died")
	}
}

func TestJoinIsVisibleWhenItReturns(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	f := newFixture(t, nil)
	t.Run("socket join", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			room := fmt.Sprint("c", i)
			f.w1.socket(t, f.a1.sid).Join(room)
			// No polling: the hub indexed the room before Join returned.
			if got := f.tc.hub.RoomInstances("/", room); !slices.Equal(got, []uint32{1}) {
				t.Fatalf("room %s on %v right after Join, want [1]", room, got)
			}
		}
	})
	t.Run("socketsJoin then broadcast from a worker holding none", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			room := fmt.Sprint("fresh", i)
			f.w3.io.In("r1").SocketsJoin(room)
			if err := f.w3.io.To(room).Emit("ev"); err != nil {
				t.Fatal(err)
			}
			if got, want := f.received(t, f.w3), map[string]int{"a1": 1, "b1": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("round %d: got %v, want %v", i, got, want)
			}
		}
	})
	t.Run("a join that selects nobody is withdrawn", func(t *testing.T) {
		f.w3.io.In(f.a2.sid).Except(f.a2.sid).SocketsJoin("ghost")
		f.tc.waitRoom(t, "ghost")
	})
}
