package adapter

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/hub"
	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/socketio"
)

// wait bounds every wait in these tests; reaching it is a failure.
const wait = 10 * time.Second

// leakWait is how long adapter tests give fds and goroutines to come back
// to their baseline (testutil.CheckNoLeaks; call it first in a test so its
// cleanup runs last).
var leakWait = testutil.Within(wait, 5*time.Millisecond)

// testWorker is one worker of a test cluster: a Cluster linked to the
// shared hub and a Socket.IO server on an httptest listener.
type testWorker struct {
	id      uint32
	cluster *Cluster
	io      *socketio.Server
	http    *httptest.Server
	served  chan struct{} // the hub's Serve returned
	lost    chan error    // OnLinkLost
}

type testCluster struct {
	hub     *hub.Server
	workers []*testWorker
}

// newTestCluster starts a hub and n workers with ids 1..n; setup runs on
// each server before it serves.
func newTestCluster(t testing.TB, n int, setup func(w *testWorker)) *testCluster {
	return newTestClusterWith(t, n, socketio.Options{}, Options{RequestTimeout: 2 * time.Second}, setup)
}

// newTestClusterWith is newTestCluster with the servers' options sopts
// (Adapter set here) and the clusters' options copts (OnLinkLost set here).
func newTestClusterWith(t testing.TB, n int, sopts socketio.Options, copts Options, setup func(w *testWorker)) *testCluster {
	tc := &testCluster{hub: hub.NewServer(hub.Options{})}
	t.Cleanup(func() { tc.hub.Close() })
	for i := 1; i <= n; i++ {
		w := &testWorker{id: uint32(i), served: make(chan struct{}), lost: make(chan error, 1)}
		wc, hc := testutil.SocketPair(t)
		go func() {
			tc.hub.Serve(w.id, ipc.NewFrameConn(hc, 0))
			close(w.served)
		}()
		co := copts
		co.OnLinkLost = func(err error) { w.lost <- err }
		cl, err := NewCluster(ipc.NewFrameConn(wc, 0), co)
		if err != nil {
			t.Fatal(err)
		}
		w.cluster = cl
		so := sopts
		so.Adapter = cl.Adapter
		w.io = socketio.NewServer(so)
		if setup != nil {
			setup(w)
		}
		w.http = httptest.NewServer(w.io)
		t.Cleanup(func() {
			w.http.CloseClientConnections()
			w.http.Close()
			w.io.Close()
			cl.Close()
			<-w.served
		})
		tc.workers = append(tc.workers, w)
	}
	want := make([]uint32, n)
	for i := range want {
		want[i] = uint32(i + 1)
	}
	for _, w := range tc.workers {
		testutil.CheckFor(t, wait, time.Millisecond, func() error {
			if got := w.cluster.Instances(); !slices.Equal(got, want) {
				return fmt.Errorf("worker %d sees %v, want %v", w.id, got, want)
			}
			return nil
		})
	}
	return tc
}

// waitRoom waits until the hub routes room of "/" to exactly ids.
func (tc *testCluster) waitRoom(t testing.TB, room string, ids ...uint32) {
	t.Helper()
	testutil.CheckFor(t, wait, time.Millisecond, func() error {
		if got := tc.hub.RoomInstances("/", room); !slices.Equal(got, ids) {
			return fmt.Errorf("room %q on %v, want %v", room, got, ids)
		}
		return nil
	})
}

// event is one EVENT a client received.
type event struct {
	name  string
	args  []json.RawMessage
	ackID int // -1 without
}

// client is the shared Socket.IO test client on "/", with the ids of its
// connect answer.
type client struct {
	*testutil.SIOClient
	name string
	sid  string
	pid  string // connection state recovery's private id ("" when off)
}

func dial(t testing.TB, w *testWorker, name string, ack func(e event) []any) *client {
	t.Helper()
	c, err := connect(t, w, name, ack, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// connect opens a websocket to w and connects to "/" with auth (a JSON
// object, or "" for none); the connect answer must arrive within wait. It
// does not call t.Fatal, so it may run on any goroutine. ack, when not nil,
// answers the events that ask for one (a nil answer leaves one unanswered).
func connect(t testing.TB, w *testWorker, name string, ack func(e event) []any, auth string) (*client, error) {
	sio, err := testutil.DialSIO(strings.TrimPrefix(w.http.URL, "http://"), testutil.SIOOptions{OnEvent: answerWith(ack)})
	if err != nil {
		return nil, err
	}
	if err := sio.Connect(auth); err != nil {
		sio.Close()
		return nil, err
	}
	p, err := sio.Next(wait)
	var conn struct{ SID, PID string }
	if err != nil || p.Type != '0' || json.Unmarshal([]byte(p.Data), &conn) != nil || conn.SID == "" {
		sio.Close()
		return nil, fmt.Errorf("%s: connect answer %q, %v", name, p.Payload, err)
	}
	t.Cleanup(sio.Close)
	return &client{SIOClient: sio, name: name, sid: conn.SID, pid: conn.PID}, nil
}

// answerWith adapts an ack function to testutil.SIOOptions.OnEvent.
func answerWith(ack func(e event) []any) func(*testutil.SIOClient, testutil.SIOPacket) {
	if ack == nil {
		return nil
	}
	return func(c *testutil.SIOClient, p testutil.SIOPacket) {
		if e, ok := toEvent(p); ok && p.ID >= 0 {
			if out := ack(e); out != nil {
				_ = c.Ack(p.ID, out...)
			}
		}
	}
}

// toEvent is p as an event: a well-formed EVENT, or "disconnect" for
// DISCONNECT; ok is false for other packets.
func toEvent(p testutil.SIOPacket) (event, bool) {
	switch {
	case p.Type == '1':
		return event{name: "disconnect", ackID: -1}, true
	case p.Type == '2' && p.Args != nil:
		return event{name: p.Name, args: p.Args, ackID: p.ID}, true
	}
	return event{}, false
}

// next returns the client's next event; the connection ending with none
// queued fails the test.
func (c *client) next(t testing.TB) event {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case p := <-c.Packets():
			if e, ok := toEvent(p); ok {
				return e
			}
		case <-c.Done():
			select {
			case p := <-c.Packets():
				if e, ok := toEvent(p); ok {
					return e
				}
			default:
				t.Fatalf("%s: connection closed", c.name)
			}
		case <-deadline:
			t.Fatalf("%s: no event within %v", c.name, wait)
		}
	}
}

// until collects the client's events up to the event named marker, which
// it consumes.
func (c *client) until(t testing.TB, marker string) []event {
	t.Helper()
	var got []event
	for {
		e := c.next(t)
		if e.name == marker {
			return got
		}
		got = append(got, e)
	}
}

// socket returns w's server-side socket id.
func (w *testWorker) socket(t testing.TB, id string) *socketio.Socket {
	t.Helper()
	for _, s := range w.io.Sockets() {
		if s.ID() == id {
			return s
		}
	}
	t.Fatalf("worker %d has no socket %s", w.id, id)
	return nil
}

// sortedStrings decodes acks that are each a JSON string and returns them
// sorted; an ack that is not a string fails the test.
func sortedStrings(t testing.TB, acks []json.RawMessage) []string {
	t.Helper()
	out := make([]string, 0, len(acks))
	for _, a := range acks {
		var s string
		if err := json.Unmarshal(a, &s); err != nil {
			t.Fatalf("ack %s is not a string: %v", a, err)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
