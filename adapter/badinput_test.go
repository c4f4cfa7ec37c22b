package adapter

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stickyd/stickyd/hub"
	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/socketio"
)

// rogue is a hand-driven hub link: a worker that sends what it likes.
type rogue struct {
	fc     *ipc.FrameConn
	frames chan ipc.HubMessage
}

func newRogue(t *testing.T, tc *testCluster, id uint32) *rogue {
	wc, hc := testutil.SocketPair(t)
	served := make(chan struct{})
	go func() { tc.hub.Serve(id, ipc.NewFrameConn(hc, 0)); close(served) }()
	r := &rogue{fc: ipc.NewFrameConn(wc, 0), frames: make(chan ipc.HubMessage, 64)}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			typ, p, err := r.fc.ReadFrame()
			if err != nil {
				return
			}
			if m, err := ipc.DecodeHubMessage(typ, p); err == nil {
				r.frames <- m
			}
		}
	}()
	t.Cleanup(func() { r.fc.Close(); <-served; <-readDone })
	return r
}

func (r *rogue) send(t *testing.T, m ipc.HubMessage) {
	t.Helper()
	b, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.fc.WriteFrame(byte(m.Type), b); err != nil {
		t.Fatal(err)
	}
}

// next returns the next frame that is not HubMembers.
func (r *rogue) next(t *testing.T) ipc.HubMessage {
	t.Helper()
	for {
		select {
		case m := <-r.frames:
			if m.Type != ipc.HubMembers {
				return m
			}
		case <-time.After(wait):
			t.Fatal("rogue: no frame")
		}
	}
}

func TestBadInputFromAnotherWorker(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	tc := newTestCluster(t, 2, nil)
	w1, w2 := tc.workers[0], tc.workers[1]
	a := dial(t, w1, "a", nil)
	r := newRogue(t, tc, 9)
	r.send(t, ipc.HubMessage{Type: ipc.HubRooms, Nsp: "/", Deltas: []ipc.RoomDelta{{Op: ipc.NspJoin}, {Op: ipc.RoomAdd, Room: "rogue"}}})
	tc.waitRoom(t, "rogue", 9)

	broadcasts := []struct {
		name    string
		payload []byte
	}{
		{"empty payload", nil},
		{"unknown operation", []byte{0x7f}},
		{"truncated packet", []byte{hub.PayloadPacket, 0, 0, 0, 0, 0, 9, 0}},
		{"invalid packet text", hub.AppendList(hub.AppendString(hub.AppendList([]byte{hub.PayloadPacket, 0}, []string(nil)), "zz"), []string(nil))},
		{"trailing bytes", append(hub.AppendList(hub.AppendList([]byte{hub.PayloadJoin}, []string(nil)), []string{"x"}), 1)},
	}
	for _, b := range broadcasts {
		r.send(t, ipc.HubMessage{Type: ipc.HubBroadcast, Nsp: "/", Payload: b.payload})
	}
	// An answer to a request nobody made is dropped.
	r.send(t, ipc.HubMessage{Type: ipc.HubResponse, Instance: 1, ReqID: 12345, Flags: ipc.HubFinal, Payload: []byte("x")})

	// A request that does not decode is answered empty by both workers.
	for i, payload := range [][]byte{{0x7f}, {hub.RequestFetch, 1}, nil} {
		id := uint64(100 + i)
		r.send(t, ipc.HubMessage{Type: ipc.HubRequest, ReqID: id, Nsp: "/", Payload: payload})
		if m := r.next(t); m.Type != ipc.HubRouted || m.ReqID != id || !slices.Equal(m.Instances, []uint32{1, 2}) {
			t.Fatalf("request %d: got %+v, want routed to [1 2]", id, m)
		}
		var from []uint32
		for range 2 {
			m := r.next(t)
			if m.Type != ipc.HubResponse || m.ReqID != id || m.Flags&ipc.HubFinal == 0 || len(m.Payload) != 0 {
				t.Fatalf("request %d: got %+v, want an empty final response", id, m)
			}
			from = append(from, m.Instance)
		}
		slices.Sort(from)
		if !slices.Equal(from, []uint32{1, 2}) {
			t.Fatalf("request %d answered by %v, want [1 2]", id, from)
		}
	}

	// Worker 1 is unharmed: it still receives, and still asks.
	if err := w2.io.Emit("ev"); err != nil {
		t.Fatal(err)
	}
	if e := a.next(t); e.name != "ev" {
		t.Fatalf("a got %q, want ev", e.name)
	}
	select {
	case err := <-w1.lost:
		t.Fatalf("worker 1 lost its link: %v", err)
	default:
	}
	// The rogue never answers: worker 1's request waits for it until the
	// context ends, then returns worker 2's answer with ErrTimeout.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	socks, err := w1.io.FetchSockets(ctx)
	if !errors.Is(err, socketio.ErrTimeout) || len(socks) != 1 {
		t.Fatalf("fetch with a silent worker: %d sockets, %v; want 1 and a timeout", len(socks), err)
	}
	m := r.next(t)
	if m.Type == ipc.HubBroadcast { // worker 2's "ev"
		m = r.next(t)
	}
	if m.Type != ipc.HubRequest || m.Instance != 1 {
		t.Fatalf("rogue got %+v, want the request of worker 1", m)
	}
	// A late answer to the finished request is dropped.
	r.send(t, ipc.HubMessage{Type: ipc.HubResponse, Instance: 1, ReqID: 1, Flags: ipc.HubFinal, Payload: []byte("[]")})
	if n, _ := w1.io.ServerCount(context.Background()); n != 3 {
		t.Fatalf("server count %d, want 3", n)
	}
}
