package adapter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/socketio"
	"github.com/stickyd/stickyd/worker"
)

func TestNewClusterJoinErrors(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	t.Run("hub silent", func(t *testing.T) {
		wc, hc := testutil.SocketPair(t)
		defer hc.Close()
		_, err := NewCluster(ipc.NewFrameConn(wc, 0), Options{JoinTimeout: 50 * time.Millisecond})
		if !errors.Is(err, ErrJoinTimeout) {
			t.Fatalf("got %v, want ErrJoinTimeout", err)
		}
	})
	t.Run("hub closes the link", func(t *testing.T) {
		wc, hc := testutil.SocketPair(t)
		hc.Close()
		lost := false
		_, err := NewCluster(ipc.NewFrameConn(wc, 0), Options{OnLinkLost: func(error) { lost = true }})
		if !errors.Is(err, ErrLinkClosed) {
			t.Fatalf("got %v, want ErrLinkClosed", err)
		}
		if lost {
			t.Fatal("OnLinkLost called for a link that never joined")
		}
	})
}

func TestStandaloneUsesInMemoryAdapter(t *testing.T) {
	t.Setenv("STICKYD_SOCKET", "")
	t.Setenv("HOST", "127.0.0.1")
	t.Setenv("PORT", "0")
	l, err := worker.Listen()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cl, err := New(l, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	io := socketio.NewServer(socketio.Options{Adapter: cl.Adapter})
	defer io.Close()
	if _, ok := io.Of("/").Adapter().(*socketio.InMemoryAdapter); !ok {
		t.Fatalf("adapter %T, want *socketio.InMemoryAdapter", io.Of("/").Adapter())
	}
	if rooms, err := Rooms(context.Background(), io.Of("/")); len(rooms) != 0 || err != nil {
		t.Fatalf("rooms %v, %v; want none", rooms, err)
	}
	if n, err := io.ServerCount(context.Background()); n != 1 || err != nil {
		t.Fatalf("server count %d, %v; want 1", n, err)
	}
	select {
	case <-cl.Done():
	default:
		t.Fatal("Done not closed for a standalone cluster")
	}
}

func TestLinkLostServesAlone(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	tc := newTestCluster(t, 2, nil)
	w1, w2 := tc.workers[0], tc.workers[1]
	c := dial(t, w1, "c", nil)
	tc.hub.WorkerGone(1)
	select {
	case err := <-w1.lost:
		if !errors.Is(err, ErrLinkClosed) {
			t.Fatalf("got %v, want ErrLinkClosed", err)
		}
	case <-time.After(wait):
		t.Fatal("link loss not reported")
	}
	if n, _ := w1.io.ServerCount(context.Background()); n != 1 {
		t.Fatalf("server count %d after the loss, want 1", n)
	}
	// Requests resolve at once with local answers; broadcasts stay local.
	socks, err := w1.io.FetchSockets(context.Background())
	if err != nil || len(socks) != 1 {
		t.Fatalf("fetch: %d, %v; want 1, nil", len(socks), err)
	}
	if err := w1.io.Emit("ev"); err != nil {
		t.Fatal(err)
	}
	if e := c.next(t); e.name != "ev" {
		t.Fatalf("got %q, want ev", e.name)
	}
	testutil.CheckFor(t, wait, time.Millisecond, func() error {
		if n, _ := w2.io.ServerCount(context.Background()); n != 1 {
			return errors.New("worker 2 still counts worker 1")
		}
		return nil
	})
}
