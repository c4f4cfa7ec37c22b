package redisadapter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/socketio"
)

func rawClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Bad input published on every channel is dropped and counted, never
// applied, and the peer keeps working.
func TestBadInputIsCountedAndDropped(t *testing.T) {
	r := startRedis(t)
	g := startGoPeer(t, r.URL, "go", func(o *Options) { o.MaxMessageBytes = 4096 })
	c := dialClient(t, g.addr, "c")
	c.call(t, "join", "room1")
	raw := rawClient(t, r.URL)
	ctx := context.Background()
	bad := []struct{ channel, msg string }{
		{"socket.io#/#", "garbage"},                                                     // not msgpack
		{"socket.io#/#", "\x93\xa6AcLp6j\x83\xa4type\x02"},                              // truncated
		{"socket.io#/#room1#", "\xdd\xff\xff\xff\xff"},                                  // a 4G-element array in 5 bytes
		{"socket.io#/#", strings.Repeat("\x91", 500) + "\xc0"},                          // nested too deep
		{"socket.io#/#", "\x93\xa1x\x83\xa4type\x02\xa4data\x91\xa1e\xa3nsp\xa2/x\x80"}, // another namespace
		{"socket.io#/#", "\x93\xa1x" + string(make([]byte, 5000))},                      // over MaxMessageBytes
		{"socket.io#/#abc", "\x90"},                                                     // not a broadcast channel of "/"
		{"socket.io-request#/#", `{"uid":"x","type":42}`},                               // unknown type
		{"socket.io-request#/#", `{"uid":"x","type":5}`},                                // fetch without opts
		{"socket.io-request#/#", "\xc1"},                                                // never-used msgpack code
		{"socket.io-response#/#", `{"type":8}`},                                         // no requestId
		{"socket.io-response#/#" + g.peer.UID() + "#", `not json`},                      // garbage on our own channel
	}
	before := g.peer.Stats().BadMessages
	for _, b := range bad {
		if err := raw.Publish(ctx, b.channel, b.msg).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// an answer to a request that is not ours is ignored, not counted
	_ = raw.Publish(ctx, "socket.io-response#/#", `{"requestId":"nobody","rooms":[]}`).Err()
	testutil.CheckFor(t, 3*time.Second, 10*time.Millisecond, func() error {
		if n := g.peer.Stats().BadMessages - before; n != uint64(len(bad)) {
			return fmt.Errorf("%d bad messages counted, want %d", n, len(bad))
		}
		return nil
	})
	c.expectNone(t, "e", 50*time.Millisecond)
	// still working: a broadcast from another peer arrives
	h := startGoPeer(t, r.URL, "go-2")
	if err := h.io.To("room1").Emit("after", 1); err != nil {
		t.Fatal(err)
	}
	c.expectEvent(t, "after")
}

// A server that never answers (subscribed to the request channel, so
// counted by NUMSUB) costs one timeout: the requests return what they got
// with an error wrapping socketio.ErrTimeout, and nothing stays pending.
func TestSilentServerCostsOneTimeout(t *testing.T) {
	testutil.CheckNoLeaks(t)
	r := startRedis(t)
	g := startGoPeer(t, r.URL, "go", func(o *Options) { o.RequestTimeout = 300 * time.Millisecond })
	c := dialClient(t, g.addr, "c")
	silent := rawClient(t, r.URL).Subscribe(context.Background(), "socket.io-request#/#")
	defer silent.Close()
	if _, err := silent.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if n, err := g.io.ServerCount(ctx); n != 2 || err != nil {
		t.Fatalf("server count %d %v", n, err)
	}
	start := time.Now()
	sockets, err := g.io.FetchSockets(ctx)
	if !errors.Is(err, socketio.ErrTimeout) || len(sockets) != 1 || time.Since(start) > 2*time.Second {
		t.Fatalf("fetch: %d sockets, %v after %v", len(sockets), err, time.Since(start))
	}
	answers, err := g.io.ServerSideEmitWithAck(ctx, "x")
	if !errors.Is(err, socketio.ErrTimeout) || len(answers) != 0 {
		t.Fatalf("server-side emit: %v %v", answers, err)
	}
	acks, err := g.io.Timeout(300*time.Millisecond).EmitWithAck(ctx, "question", 1)
	if !errors.Is(err, socketio.ErrTimeout) && err != nil || len(acks) != 1 {
		t.Fatalf("broadcast acks: %v %v", acks, err)
	}
	rooms, err := Rooms(ctx, g.io.Of("/"))
	if !errors.Is(err, socketio.ErrTimeout) || len(rooms) != 1 || rooms[0] != c.id() {
		t.Fatalf("rooms: %v %v", rooms, err)
	}
	a := g.io.Of("/").Adapter().(*Adapter)
	testutil.CheckFor(t, 2*time.Second, 10*time.Millisecond, func() error {
		if n := a.pending(); n != 0 {
			return fmt.Errorf("%d requests pending", n)
		}
		return nil
	})
}

// Close ends pending requests at once with ErrClosed.
func TestCloseEndsPendingRequests(t *testing.T) {
	g, a, done := fetchFromSilentServer(t, context.Background())
	_ = g.peer.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("pending fetch ended with %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("pending fetch not ended by Close")
	}
	if a.pending() != 0 {
		t.Fatalf("%d requests pending after Close", a.pending())
	}
	if err := g.peer.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := g.peer.Sync(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after Close: %v, want ErrClosed", err)
	}
}

// A request whose context ends before every server answered returns an
// error wrapping both socketio.ErrTimeout and the context's error, and is
// forgotten.
func TestRequestContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	_, a, done := fetchFromSilentServer(t, ctx)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, socketio.ErrTimeout) || !errors.Is(err, context.Canceled) {
			t.Fatalf("fetch with its context cancelled: %v, want ErrTimeout and context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("fetch not ended by its context")
	}
	if n := a.pending(); n != 0 {
		t.Fatalf("%d requests pending", n)
	}
}

// fetchFromSilentServer starts a Go peer (request timeout one minute) and
// a second subscriber of its request channel that never answers, and runs
// FetchSockets(ctx) until its request is pending; done gets its error.
func fetchFromSilentServer(t *testing.T, ctx context.Context) (*goPeer, *Adapter, chan error) {
	t.Helper()
	r := startRedis(t)
	g := startGoPeer(t, r.URL, "go", func(o *Options) { o.RequestTimeout = time.Minute })
	silent := rawClient(t, r.URL).Subscribe(context.Background(), "socket.io-request#/#")
	t.Cleanup(func() { _ = silent.Close() })
	if _, err := silent.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := g.io.FetchSockets(ctx)
		done <- err
	}()
	a := g.io.Of("/").Adapter().(*Adapter)
	testutil.CheckFor(t, 2*time.Second, 5*time.Millisecond, func() error {
		if a.pending() != 1 {
			return errors.New("request not pending yet")
		}
		return nil
	})
	return g, a, done
}
