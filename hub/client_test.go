package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
)

// startClient links a Client with deliver as instance id to h and joins.
func startClient(t testing.TB, h *Server, id uint32, deliver func(c *Client, m *ipc.HubMessage)) *Client {
	t.Helper()
	wc, hc := testutil.SocketPair(t)
	served := make(chan struct{})
	go func() { h.Serve(id, ipc.NewFrameConn(hc, 0)); close(served) }()
	var c *Client
	opts := ClientOptions{}
	if deliver != nil {
		opts.Deliver = func(m *ipc.HubMessage) { deliver(c, m) }
	}
	c = NewClient(ipc.NewFrameConn(wc, 0), opts)
	if err := c.Join(hubWait); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); <-served })
	return c
}

// answers collects what a Request's callbacks receive.
type answers struct {
	mu      sync.Mutex
	targets []uint32
	routed  int
	resps   []string
	gone    []uint32
}

func (a *answers) request(nsp string, rooms ...string) *Request {
	return &Request{
		Nsp:   nsp,
		Rooms: rooms,
		OnRouted: func(t []uint32) {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.routed++
			a.targets = slices.Clone(t)
		},
		OnResponse: func(from uint32, p []byte, final bool) {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.resps = append(a.resps, string(p))
		},
		OnGone: func(from uint32) {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.gone = append(a.gone, from)
		},
	}
}

// TestClientRequests: a request reaches the member of its room and its
// answer comes back to the requester; a request whose target leaves
// resolves at once with the target gone; one after the link is closed
// resolves at once routed to nobody.
func TestClientRequests(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	h := newTestHub(t)
	requester := startClient(t, h, 1, nil)
	answerer := startClient(t, h, 2, func(c *Client, m *ipc.HubMessage) {
		if m.Type == ipc.HubRequest && string(m.Payload) == "ping" {
			c.Respond(m.Instance, m.ReqID, true, []byte("pong"))
		} // anything else stays unanswered
	})
	silent := startClient(t, h, 3, func(*Client, *ipc.HubMessage) {})
	for _, c := range []*Client{answerer, silent} {
		c.Send(&ipc.HubMessage{Type: ipc.HubRooms, Nsp: "/", Deltas: []ipc.RoomDelta{{Op: ipc.NspJoin}, {Op: ipc.RoomAdd, Room: "r"}}}, false)
		c.AwaitSync(c.StartSync())
	}
	testutil.CheckFor(t, hubWait, time.Millisecond, func() error {
		if got := requester.Instances(); !slices.Equal(got, []uint32{1, 2, 3}) {
			return errors.New("requester does not see every member yet")
		}
		return nil
	})

	var a answers
	r := a.request("/")
	r.Payload = []byte("ping")
	requester.Start(r)
	testutil.CheckFor(t, hubWait, time.Millisecond, func() error {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.routed != 1 || !slices.Equal(a.targets, []uint32{2, 3}) || !slices.Equal(a.resps, []string{"pong"}) {
			return fmt.Errorf("routed %d times to %v, answers %q; want once to [2 3], pong", a.routed, a.targets, a.resps)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if requester.Wait(ctx, r) {
		t.Fatal("resolved although member 3 never answers")
	}

	var b answers
	r = b.request("/", "r")
	r.Payload = []byte("unanswered")
	requester.Start(r)
	testutil.CheckFor(t, hubWait, time.Millisecond, func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.routed == 0 {
			return errors.New("not routed yet")
		}
		return nil
	})
	h.WorkerGone(2)
	h.WorkerGone(3)
	select {
	case <-r.Done():
	case <-time.After(hubWait):
		t.Fatal("the request still waits for members that left")
	}
	slices.Sort(b.gone)
	if !slices.Equal(b.gone, []uint32{2, 3}) {
		t.Fatalf("gone %v, want [2 3]", b.gone)
	}

	requester.Close()
	var c answers
	r = c.request("/")
	requester.Start(r)
	<-r.Done()
	if c.routed != 1 || c.targets != nil || requester.ServerCount() != 1 {
		t.Fatalf("after Close: routed %d to %v, server count %d; want once to nobody, 1", c.routed, c.targets, requester.ServerCount())
	}
}

// TestClientJoinErrors: a hub that never answers gives ErrJoinTimeout; a
// link closed before the answer gives ErrLinkClosed. Both close the link.
func TestClientJoinErrors(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	wc, hc := testutil.SocketPair(t)
	defer hc.Close()
	if err := NewClient(ipc.NewFrameConn(wc, 0), ClientOptions{}).Join(20 * time.Millisecond); !errors.Is(err, ErrJoinTimeout) {
		t.Fatalf("silent hub: %v, want ErrJoinTimeout", err)
	}
	wc, hc = testutil.SocketPair(t)
	hc.Close()
	if err := NewClient(ipc.NewFrameConn(wc, 0), ClientOptions{}).Join(hubWait); !errors.Is(err, ErrLinkClosed) {
		t.Fatalf("closed link: %v, want ErrLinkClosed", err)
	}
}
