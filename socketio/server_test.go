package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// reasons collects disconnect reasons reported by sockets.
type reasons struct {
	mu  sync.Mutex
	got []string
}

func (r *reasons) add(s string) { r.mu.Lock(); r.got = append(r.got, s); r.mu.Unlock() }

// connectWatched dials a client and connects it to the main namespace,
// whose server-side socket adds its disconnect reasons to the returned
// reasons.
func (e *testEnv) connectWatched() (*tclient, *reasons) {
	e.t.Helper()
	rs := &reasons{}
	e.io.OnConnection(func(s *Socket) { s.OnDisconnect(rs.add) })
	c := e.dial("")
	c.connect("/", "")
	return c, rs
}
func (r *reasons) wait(t *testing.T, want ...string) {
	t.Helper()
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if !slices.Equal(r.got, want) {
			return fmt.Errorf("reasons %q, want %q", r.got, want)
		}
		return nil
	})
}

func TestConnectMain(t *testing.T) {
	env := newEnv(t, Options{})
	connected := make(chan *Socket, 1)
	env.io.OnConnection(func(s *Socket) { connected <- s })
	c := env.dial("")
	c.send("0")
	got := c.expectPrefix("0{")
	s := <-connected
	if want := `0{"sid":"` + s.ID() + `"}`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if len(s.ID()) != 20 {
		t.Fatalf("sid %q: want 20 characters", s.ID())
	}
	if got := s.Rooms(); !slices.Equal(got, []string{s.ID()}) {
		t.Fatalf("rooms %q, want own id", got)
	}
}

func TestNamespaces(t *testing.T) {
	env := newEnv(t, Options{})
	env.io.Of("/admin").OnConnection(func(s *Socket) { _ = s.Emit("hello", s.Namespace().Name()) })
	env.io.OfRegexp(regexp.MustCompile(`^/dyn-\d+$`)).OnConnection(func(s *Socket) { _ = s.Emit("hello", s.Namespace().Name()) })
	env.io.OfFunc(func(name string, auth json.RawMessage) bool {
		return name == "/byfunc" && string(auth) == `{"ok":true}`
	}).
		OnConnection(func(s *Socket) { _ = s.Emit("hello", s.Namespace().Name()) })
	c := env.dial("")
	c.connect("/", "")
	c.connect("/admin", "")
	c.expect(`2/admin,["hello","/admin"]`)
	c.connect("/dyn-42", "")
	c.expect(`2/dyn-42,["hello","/dyn-42"]`)
	c.send(`0/nope,`)
	c.expect(`4/nope,{"message":"Invalid namespace"}`)
	c.send(`0/dyn-x,`)
	c.expect(`4/dyn-x,{"message":"Invalid namespace"}`)
	c.send(`0/byfunc,{"ok":false}`)
	c.expect(`4/byfunc,{"message":"Invalid namespace"}`)
	c.connect("/byfunc", `{"ok":true}`)
	c.expect(`2/byfunc,["hello","/byfunc"]`)
	if n := len(env.io.Of("/dyn-42").Sockets()); n != 1 {
		t.Fatalf("dyn-42 sockets = %d, want 1", n)
	}
}

func TestMiddlewares(t *testing.T) {
	env := newEnv(t, Options{})
	var mu sync.Mutex
	var order []string
	env.io.Use(func(s *Socket) error { mu.Lock(); order = append(order, "a"); mu.Unlock(); return nil })
	env.io.Use(func(s *Socket) error {
		mu.Lock()
		order = append(order, "b")
		mu.Unlock()
		var auth struct{ Token string }
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		if auth.Token != "secret" {
			return &ConnectError{Message: "not authorized", Data: map[string]any{"code": 42}}
		}
		s.SetData(map[string]string{"user": "bob"})
		return nil
	})
	env.io.Of("/plain").Use(func(s *Socket) error { return errors.New("plain <error>") })
	c := env.dial("")
	c.send(`0{"token":"wrong"}`)
	c.expect(`4{"message":"not authorized","data":{"code":42}}`)
	c.send(`0/plain,`)
	c.expect(`4/plain,{"message":"plain <error>"}`)
	c.connect("/", `{"token":"secret"}`)
	mu.Lock()
	defer mu.Unlock()
	if got := fmt.Sprint(order); got != "[a b a b]" {
		t.Fatalf("middleware order %s", got)
	}
	socks := env.io.Sockets()
	if len(socks) != 1 || string(socks[0].Handshake().Auth) != `{"token":"secret"}` {
		t.Fatalf("sockets %v", socks)
	}
	if d := socks[0].Data().(map[string]string); d["user"] != "bob" {
		t.Fatalf("data %v", d)
	}
}

func TestAcksBothWays(t *testing.T) {
	env := newEnv(t, Options{})
	results := make(chan string, 4)
	env.io.OnConnection(func(s *Socket) {
		_ = s.On("echo", func(a string, n int, ack func(...any)) {
			ack(a, n+1, map[string]string{"html": "<b>"})
		})
		_ = s.On("raw", func(args []json.RawMessage, ack AckFunc) {
			if ack != nil {
				results <- "raw ack not nil"
			}
			results <- string(args[0])
		})
		_ = s.On("ask", func() {
			go func() {
				got, err := s.EmitWithAck(context.Background(), "question", "q")
				results <- fmt.Sprintf("%s %v", got, err)
			}()
		})
	})
	c := env.dial("")
	c.connect("/", "")
	c.send(`27["echo","x",1]`)
	c.expect(`37["x",2,{"html":"<b>"}]`)
	c.send(`2["raw",{"z":1,"a":2}]`)
	if got := <-results; got != `{"z":1,"a":2}` {
		t.Fatalf("raw arg %s", got)
	}
	c.send(`2["ask"]`)
	got := c.expectPrefix(`2`)
	var id int
	if _, err := fmt.Sscanf(got, `2%d["question","q"]`, &id); err != nil {
		t.Fatalf("question %q: %v", got, err)
	}
	c.send(fmt.Sprintf(`3%d["answer",{"k":[1]}]`, id))
	if got := <-results; got != `["answer" {"k":[1]}] <nil>` {
		t.Fatalf("ack result %s", got)
	}
}

func TestEmitWithAckTimeoutAndDisconnect(t *testing.T) {
	env := newEnv(t, Options{})
	c, s := env.connectedSocket()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.EmitWithAck(ctx, "q"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	c.expectPrefix(`2`)
	errc := make(chan error, 1)
	go func() { _, err := s.EmitWithAck(context.Background(), "q2"); errc <- err }()
	c.expectPrefix(`2`)
	c.send(`1`)
	if err := <-errc; !errors.Is(err, ErrDisconnected) {
		t.Fatalf("got %v, want ErrDisconnected", err)
	}
}

func TestBinaryEvents(t *testing.T) {
	env := newEnv(t, Options{})
	env.io.OnConnection(func(s *Socket) {
		_ = s.On("up", func(b []byte, meta struct{ File []byte }, ack AckFunc) {
			_ = ack(append(b, meta.File...), "done")
		})
	})
	c := env.dial("")
	c.connect("/", "")
	c.send(`52-3["up",{"_placeholder":true,"num":1},{"file":{"_placeholder":true,"num":0}}]`)
	c.sendBinary([]byte("BB"))
	c.sendBinary([]byte("AA"))
	c.expect(`61-3[{"_placeholder":true,"num":0},"done"]`)
	if m := c.next(); !m.binary || string(m.bin) != "AABB" {
		t.Fatalf("attachment %q binary=%v", m.bin, m.binary)
	}
}

func TestReservedAndInvalid(t *testing.T) {
	env := newEnv(t, Options{})
	_, s := env.connectedSocket()
	for _, ev := range []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"} {
		if err := s.Emit(ev); !errors.Is(err, ErrReservedEvent) {
			t.Errorf("socket Emit(%q) = %v", ev, err)
		}
		if err := env.io.Emit(ev); !errors.Is(err, ErrReservedEvent) {
			t.Errorf("io Emit(%q) = %v", ev, err)
		}
		if err := env.io.ServerSideEmit(ev); !errors.Is(err, ErrReservedEvent) {
			t.Errorf("ServerSideEmit(%q) = %v", ev, err)
		}
	}
	for _, h := range []any{nil, 5, func(...int) {}, func() int { return 1 }, func(chan int) {}} {
		if err := s.On("x", h); !errors.Is(err, ErrInvalidHandler) {
			t.Errorf("On(%T) = %v, want ErrInvalidHandler", h, err)
		}
	}
}

func TestOnAny(t *testing.T) {
	env := newEnv(t, Options{})
	got := make(chan string, 2)
	env.io.OnConnection(func(s *Socket) {
		s.OnAny(func(ev string, args []json.RawMessage) { got <- fmt.Sprintf("any %s %s", ev, args[0]) })
		_ = s.On("e", func(n int) { got <- fmt.Sprint("e ", n) })
	})
	c := env.dial("")
	c.connect("/", "")
	c.send(`2["e",5]`)
	if a, b := <-got, <-got; a != "any e 5" || b != "e 5" {
		t.Fatalf("got %q, %q", a, b)
	}
}

func TestHandlersRunInOrder(t *testing.T) {
	env := newEnv(t, Options{})
	var mu sync.Mutex
	var seen []int
	env.io.OnConnection(func(s *Socket) {
		_ = s.On("n", func(n int) {
			if n%10 == 0 {
				time.Sleep(time.Millisecond) // widen the window for reordering
			}
			mu.Lock()
			seen = append(seen, n)
			mu.Unlock()
		})
	})
	c := env.dial("")
	c.connect("/", "")
	for i := 0; i < 100; i++ {
		c.send(fmt.Sprintf(`2["n",%d]`, i))
	}
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 100 {
			return fmt.Errorf("%d events", len(seen))
		}
		if !sort.IntsAreSorted(seen) {
			return fmt.Errorf("out of order: %v", seen)
		}
		return nil
	})
}

func TestParentNamespace(t *testing.T) {
	env := newEnv(t, Options{})
	parent := env.io.OfRegexp(regexp.MustCompile(`^/room-`))
	parent.Use(func(s *Socket) error {
		if s.Namespace().Name() == "/room-denied" {
			return &ConnectError{Message: "denied"}
		}
		return nil
	})
	var mu sync.Mutex
	var order []string
	parent.OnConnection(func(s *Socket) {
		mu.Lock()
		order = append(order, "parent "+s.Namespace().Name())
		mu.Unlock()
	})
	c := env.dial("")
	c.connect("/room-1", "")
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(order) != 1 {
			return fmt.Errorf("handlers ran %q", order)
		}
		return nil
	})
	env.io.Of("/room-1").OnConnection(func(s *Socket) { mu.Lock(); order = append(order, "child "+s.Namespace().Name()); mu.Unlock() })
	c.connect("/room-2", "")
	c.send("0/room-denied,")
	c.expect(`4/room-denied,{"message":"denied"}`)
	if err := parent.Emit("all", 1); err != nil {
		t.Fatal(err)
	}
	got := []string{c.expectPrefix("2/room-"), c.expectPrefix("2/room-")}
	sort.Strings(got)
	if fmt.Sprint(got) != `[2/room-1,["all",1] 2/room-2,["all",1]]` {
		t.Fatalf("parent emit: %q", got)
	}
	if n := len(parent.Children()); n != 3 {
		t.Fatalf("%d children, want 3 (denied namespaces are still created, as in Node)", n)
	}
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(order) != 2 {
			return fmt.Errorf("handlers ran %q", order)
		}
		return nil
	})
	c2 := env.dial("") // a second client on an existing child: parent's handlers, then the child's
	c2.connect("/room-1", "")
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if got := fmt.Sprint(order[2:]); got != "[parent /room-1 child /room-1]" {
			return fmt.Errorf("handlers ran %q", order)
		}
		return nil
	})
}
