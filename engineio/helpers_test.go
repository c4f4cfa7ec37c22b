package engineio

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stickyd/stickyd/internal/testutil"
)

type closeEvent struct {
	sid    string
	reason string
	err    error
}

// testServer is a Server behind a real httptest.Server that echoes messages
// and records sessions and close events.
type testServer struct {
	*Server
	ts     *httptest.Server
	url    string // http://127.0.0.1:port/engine.io/
	wsURL  string
	closed chan closeEvent
	msgs   chan string // "sid text" or "sid b:hex"
	echo   bool
}

func newTestServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	s := &testServer{Server: NewServer(opts), closed: make(chan closeEvent, 100), msgs: make(chan string, 100), echo: true}
	s.OnConnection(func(so *Socket) {
		so.OnMessage(func(data []byte, binary bool) {
			if binary {
				s.msgs <- fmt.Sprintf("%s b:%x", so.ID(), data)
				if s.echo {
					_ = so.Write(NewBinaryFrame(data))
				}
				return
			}
			s.msgs <- so.ID() + " " + string(data)
			if s.echo {
				_ = so.Write(NewTextFrame(data))
			}
		})
		so.OnClose(func(reason string, err error) {
			s.closed <- closeEvent{so.ID(), reason, err}
		})
	})
	s.ts = httptest.NewServer(s.Server)
	s.url = s.ts.URL + s.Options().Path
	s.wsURL = "ws" + strings.TrimPrefix(s.url, "http")
	t.Cleanup(func() {
		s.Server.Close()
		s.ts.Close()
	})
	return s
}

// waitClose returns the next close event, failing after 5s.
func (s *testServer) waitClose(t testing.TB) closeEvent {
	t.Helper()
	select {
	case ev := <-s.closed:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no session closed within 5s")
	}
	return closeEvent{}
}

func (s *testServer) waitMsg(t testing.TB) string {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
	}
	return ""
}

// pollClient speaks HTTP long-polling.
type pollClient struct {
	t   testing.TB
	url string
	hc  *http.Client
	sid string
}

func newPollClient(t testing.TB, url string) *pollClient {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &pollClient{t: t, url: url, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

type resp struct {
	status int
	header http.Header
	body   string
}

func (c *pollClient) do(method, query, contentType, body string) resp {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+"?"+query, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, query, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, string(b)}
}

// handshake opens a polling session and returns the open packet's JSON.
func (c *pollClient) handshake() string {
	c.t.Helper()
	r := c.do("GET", "EIO=4&transport=polling", "", "")
	if r.status != 200 || !strings.HasPrefix(r.body, "0{") {
		c.t.Fatalf("handshake: %d %q", r.status, r.body)
	}
	open := strings.SplitN(r.body, "\x1e", 2)[0][1:]
	i := strings.Index(open, `"sid":"`) + 7
	c.sid = open[i : i+strings.Index(open[i:], `"`)]
	return open
}

func (c *pollClient) sidQuery() string { return "EIO=4&transport=polling&sid=" + c.sid }

func (c *pollClient) get() resp {
	c.t.Helper()
	return c.do("GET", c.sidQuery(), "", "")
}

func (c *pollClient) post(body string) resp {
	c.t.Helper()
	return c.do("POST", c.sidQuery(), "text/plain;charset=UTF-8", body)
}

// wsClient is a gorilla websocket client.
type wsClient struct {
	t testing.TB
	c *websocket.Conn
}

func dialWS(t testing.TB, url string) *wsClient {
	t.Helper()
	c, res, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", url, err, res)
	}
	t.Cleanup(func() { c.Close() })
	return &wsClient{t: t, c: c}
}

func (w *wsClient) send(s string) {
	w.t.Helper()
	if err := w.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		w.t.Fatal(err)
	}
}

// read returns the next message ("b:hex" for binary) or the read error.
func (w *wsClient) read() (string, error) {
	_ = w.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, data, err := w.c.ReadMessage()
	if err != nil {
		return "", err
	}
	if mt == websocket.BinaryMessage {
		return fmt.Sprintf("b:%x", data), nil
	}
	return string(data), nil
}

func (w *wsClient) mustRead() string {
	w.t.Helper()
	m, err := w.read()
	if err != nil {
		w.t.Fatal(err)
	}
	return m
}

// readSkipPings returns the next message that is not a ping.
func (w *wsClient) readSkipPings() string {
	w.t.Helper()
	for {
		if m := w.mustRead(); m != "2" {
			return m
		}
	}
}

// pendingGet sends a long-poll GET for c on its own goroutine and returns
// once the server holds it, with the channel its response will come on
// and c's server-side Socket.
func (s *testServer) pendingGet(t testing.TB, c *pollClient) (<-chan resp, *Socket) {
	t.Helper()
	pending := make(chan resp, 1)
	go func() { pending <- c.get() }()
	so := s.Socket(c.sid)
	waitGetPending(t, so)
	return pending, so
}

// waitGetPending waits (5 s at most) until so holds a long-poll GET.
func waitGetPending(t testing.TB, so *Socket) {
	t.Helper()
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		so.mu.Lock()
		defer so.mu.Unlock()
		if so.poll.get == nil {
			return errors.New("GET not pending")
		}
		return nil
	})
}

// waitNoSessions waits until s has no session left (its clients closed).
func waitNoSessions(t testing.TB, s *Server) {
	t.Helper()
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := s.ClientsCount(); n != 0 {
			return fmt.Errorf("%d sessions open after their clients closed", n)
		}
		return nil
	})
}
