package adapter

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
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

// client is a minimal Socket.IO v5 client over a websocket, on "/".
type client struct {
	t      testing.TB
	name   string
	ws     *websocket.Conn
	wmu    sync.Mutex
	sid    string
	pid    string // connection state recovery's private id ("" when off)
	events chan event
	closed chan struct{}
	// ack answers events that ask for one; nil leaves them unanswered.
	ack func(e event) []any
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
// does not call t.Fatal, so it may run on any goroutine.
func connect(t testing.TB, w *testWorker, name string, ack func(e event) []any, auth string) (*client, error) {
	u := "ws" + strings.TrimPrefix(w.http.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		return nil, err
	}
	c := &client{t: t, name: name, ws: ws, events: make(chan event, 256), closed: make(chan struct{}), ack: ack}
	ws.SetReadDeadline(time.Now().Add(wait))
	if _, m, err := ws.ReadMessage(); err != nil || len(m) == 0 || m[0] != '0' {
		ws.Close()
		return nil, fmt.Errorf("%s: open packet %q, %v", name, m, err)
	}
	c.write("40" + auth)
	_, m, err := ws.ReadMessage()
	if err != nil || !strings.HasPrefix(string(m), "40") {
		ws.Close()
		return nil, fmt.Errorf("%s: connect answer %q, %v", name, m, err)
	}
	var conn struct{ SID, PID string }
	if err := json.Unmarshal(m[2:], &conn); err != nil || conn.SID == "" {
		ws.Close()
		return nil, fmt.Errorf("%s: connect answer %q: %v", name, m, err)
	}
	ws.SetReadDeadline(time.Time{})
	c.sid, c.pid = conn.SID, conn.PID
	t.Cleanup(func() { ws.Close(); <-c.closed })
	go c.readLoop()
	return c, nil
}

func (c *client) write(s string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.WriteMessage(websocket.TextMessage, []byte(s))
}

func (c *client) readLoop() {
	defer close(c.closed)
	defer close(c.events)
	for {
		_, m, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		s := string(m)
		switch {
		case s == "2":
			c.write("3")
		case strings.HasPrefix(s, "41"):
			c.events <- event{name: "disconnect", ackID: -1}
		case strings.HasPrefix(s, "42"):
			body := s[2:]
			i := strings.IndexByte(body, '[')
			if i < 0 {
				continue
			}
			e := event{ackID: -1}
			if i > 0 {
				e.ackID, _ = strconv.Atoi(body[:i])
			}
			if err := json.Unmarshal([]byte(body[i:]), &e.args); err != nil || len(e.args) == 0 {
				continue
			}
			json.Unmarshal(e.args[0], &e.name)
			e.args = e.args[1:]
			if e.ackID >= 0 && c.ack != nil {
				if out := c.ack(e); out != nil {
					b, _ := json.Marshal(out)
					c.write("43" + strconv.Itoa(e.ackID) + string(b))
				}
			}
			c.events <- e
		}
	}
}

// next returns the client's next event.
func (c *client) next(t testing.TB) event {
	t.Helper()
	select {
	case e, ok := <-c.events:
		if !ok {
			t.Fatalf("%s: connection closed", c.name)
		}
		return e
	case <-time.After(wait):
		t.Fatalf("%s: no event within %v", c.name, wait)
	}
	return event{}
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
