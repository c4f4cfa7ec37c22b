package socketio

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stickyd/stickyd/internal/testutil"
)

type testEnv struct {
	t   *testing.T
	io  *Server
	hs  *httptest.Server
	url string
}

// newEnv starts a Server behind httptest; cleanup closes both and checks
// for leaked goroutines (fds are not counted).
func newEnv(t *testing.T, opts Options) *testEnv {
	t.Helper()
	testutil.CheckNoLeaks(t, testutil.GoroutinesOnly(), testutil.Within(5*time.Second, 10*time.Millisecond))
	if opts.PingInterval == 0 {
		opts.PingInterval = 5 * time.Second
	}
	io := NewServer(opts)
	hs := httptest.NewServer(io)
	t.Cleanup(func() {
		_ = io.Close()
		hs.Close()
	})
	return &testEnv{t: t, io: io, hs: hs, url: hs.URL}
}

type wsMsg struct {
	text   string
	bin    []byte
	binary bool
}

// tclient is a raw Engine.IO v4 websocket client speaking Socket.IO by hand.
type tclient struct {
	t      *testing.T
	ws     *websocket.Conn
	wmu    sync.Mutex // gorilla allows one concurrent writer
	sid    string
	msgs   chan wsMsg
	closed chan struct{}
}

// connectedSocket dials a client, connects it to the main namespace and
// returns it with its server-side Socket (failing after 5 s without one).
func (e *testEnv) connectedSocket() (*tclient, *Socket) {
	e.t.Helper()
	sockets := make(chan *Socket, 1)
	e.io.OnConnection(func(s *Socket) { sockets <- s })
	c := e.dial("")
	c.connect("/", "")
	select {
	case s := <-sockets:
		return c, s
	case <-time.After(5 * time.Second):
		e.t.Fatal("no server-side socket after connect")
		return nil, nil
	}
}

func (e *testEnv) dial(query string) *tclient {
	e.t.Helper()
	u := "ws" + strings.TrimPrefix(e.url, "http") + "/socket.io/?EIO=4&transport=websocket"
	if query != "" {
		u += "&" + query
	}
	ws, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	c := &tclient{t: e.t, ws: ws, msgs: make(chan wsMsg, 256), closed: make(chan struct{})}
	_, open, err := ws.ReadMessage()
	if err != nil || len(open) == 0 || open[0] != '0' {
		e.t.Fatalf("open packet: %q, %v", open, err)
	}
	var o struct{ Sid string }
	if err := json.Unmarshal(open[1:], &o); err != nil {
		e.t.Fatalf("open json %q: %v", open, err)
	}
	c.sid = o.Sid
	go c.readLoop()
	e.t.Cleanup(func() { c.ws.Close(); <-c.closed })
	return c
}

func (c *tclient) readLoop() {
	defer close(c.closed)
	defer close(c.msgs)
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if typ == websocket.BinaryMessage {
			c.msgs <- wsMsg{bin: data, binary: true}
			continue
		}
		s := string(data)
		switch {
		case s == "2":
			c.wmu.Lock()
			_ = c.ws.WriteMessage(websocket.TextMessage, []byte("3"))
			c.wmu.Unlock()
		case s == "1": // engine.io close
		case strings.HasPrefix(s, "4"):
			c.msgs <- wsMsg{text: s[1:]}
		}
	}
}

// send writes one Socket.IO packet (text).
func (c *tclient) send(pkt string) {
	c.t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte("4"+pkt)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *tclient) sendBinary(b []byte) {
	c.t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
		c.t.Fatalf("send binary: %v", err)
	}
}

// next returns the next message or fails after 5 s.
func (c *tclient) next() wsMsg {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			c.t.Fatalf("connection closed while waiting for a message")
		}
		return m
	case <-time.After(5 * time.Second):
		c.t.Fatalf("no message within 5s")
	}
	return wsMsg{}
}

// expect reads the next text packet and compares it with want.
func (c *tclient) expect(want string) {
	c.t.Helper()
	if got := c.next(); got.text != want || got.binary {
		c.t.Fatalf("got %q (binary %v), want %q", got.text, got.binary, want)
	}
}

// expectPrefix reads the next text packet, which must start with prefix.
func (c *tclient) expectPrefix(prefix string) string {
	c.t.Helper()
	got := c.next()
	if got.binary || !strings.HasPrefix(got.text, prefix) {
		c.t.Fatalf("got %q (binary %v), want prefix %q", got.text, got.binary, prefix)
	}
	return got.text
}

// expectClosed waits for the server to close the connection.
func (c *tclient) expectClosed() {
	c.t.Helper()
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return
			}
			c.t.Logf("message before close: %q", m.text)
		case <-time.After(5 * time.Second):
			c.t.Fatalf("connection not closed within 5s")
		}
	}
}

// connect joins nsp with auth (raw JSON or "") and returns the socket id.
func (c *tclient) connect(nsp, auth string) string {
	c.t.Helper()
	prefix := ""
	if nsp != "/" {
		prefix = nsp + ","
	}
	c.send("0" + prefix + auth)
	got := c.expectPrefix("0" + prefix)
	var ok struct {
		Sid string
		Pid string
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(got, "0"+prefix)), &ok); err != nil || ok.Sid == "" {
		c.t.Fatalf("connect answer %q: %v", got, err)
	}
	return ok.Sid
}
