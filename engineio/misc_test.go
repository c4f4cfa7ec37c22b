package engineio

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stickyd/stickyd/internal/testutil"
)

func TestSessionRequestErrors(t *testing.T) {
	tests := []struct {
		name   string
		method string
		query  string // appended to sid=...
		status int
		body   string
	}{
		{"transport mismatch GET", "GET", "&EIO=4&transport=websocket", 400, `{"code":3,"message":"Bad request"}`},
		{"transport mismatch POST", "POST", "&EIO=4&transport=websocket", 400, `{"code":3,"message":"Bad request"}`},
		{"PUT", "PUT", "&EIO=4&transport=polling", 500, ""},
		{"DELETE", "DELETE", "&EIO=4&transport=polling", 500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, Options{})
			c := newPollClient(t, srv.url)
			c.handshake()
			r := c.do(tt.method, "sid="+c.sid+tt.query, "text/plain", "4x")
			if r.status != tt.status || r.body != tt.body {
				t.Errorf("got %d %q, want %d %q", r.status, r.body, tt.status, tt.body)
			}
			if srv.Socket(c.sid) == nil {
				t.Error("session closed, want it open")
			}
		})
	}
}

func TestInvalidOriginHeader(t *testing.T) {
	srv := newTestServer(t, Options{})
	conn, err := net.Dial("tcp", srv.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: http://a\x7f.test\r\n\r\n", srv.Options().Path)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// net/http refuses the header before the handler runs; either way the
	// client gets 400 and no session opens.
	if res.StatusCode != 400 || srv.ClientsCount() != 0 {
		t.Errorf("got %d with %d sessions, want 400 and none", res.StatusCode, srv.ClientsCount())
	}
}

func TestInvalidHeaderValue(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"http://a.test", false},
		{"http://a.test\tx", false},
		{"é", false},
		{"a\x00", true},
		{"\x1fa", true},
		{"a\x7f", true},
		{"a\nb", true},
	}
	for _, tt := range tests {
		if got := invalidHeaderValue(tt.in); got != tt.want {
			t.Errorf("invalidHeaderValue(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestWebSocketOnlyServer(t *testing.T) {
	srv := newTestServer(t, Options{Transports: []string{"websocket"}})
	r := newPollClient(t, srv.url).do("GET", "EIO=4&transport=polling", "", "")
	if r.status != 400 || r.body != `{"code":0,"message":"Transport unknown"}` {
		t.Errorf("polling handshake: %d %q", r.status, r.body)
	}
	ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
	if m := openRE.FindStringSubmatch(ws.mustRead()[1:]); m == nil || m[2] != "[]" {
		t.Errorf("open packet %v", m)
	}
}

func TestUpgradeDisabled(t *testing.T) {
	srv := newTestServer(t, Options{DisableUpgrades: true})
	c := newPollClient(t, srv.url)
	c.handshake()
	ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket&sid="+c.sid)
	if _, err := ws.read(); !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
		t.Errorf("read: %v, want close frame", err)
	}
	if so := srv.Socket(c.sid); so == nil || so.Transport() != "polling" {
		t.Errorf("session %v, want open on polling", so)
	}
}

func TestUpgradeReleasesLaterGet(t *testing.T) {
	srv := newTestServer(t, Options{})
	c := newPollClient(t, srv.url)
	c.handshake()
	ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket&sid="+c.sid)
	ws.send("2probe")
	if got := ws.mustRead(); got != "3probe" {
		t.Fatalf("got %q", got)
	}
	// A GET arriving after the probe is released by the periodic noop.
	if r := c.get(); r.status != 200 || r.body != "6" {
		t.Errorf("GET %d %q, want 200 6", r.status, r.body)
	}
	ws.send("5")
	ws.send("4hi")
	if got := ws.readSkipPings(); got != "4hi" {
		t.Errorf("got %q", got)
	}
}

func TestPollClientGoneIsTransportError(t *testing.T) {
	srv := newTestServer(t, Options{})
	c := newPollClient(t, srv.url)
	c.handshake()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.url+"?"+c.sidQuery(), nil)
	done := make(chan error, 1)
	go func() {
		res, err := c.hc.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	so := srv.Socket(c.sid)
	waitGetPending(t, so)
	cancel()
	<-done
	if ev := srv.waitClose(t); ev.reason != ReasonTransportError || !errors.Is(ev.err, ErrPrematureClose) {
		t.Errorf("closed with %q %v", ev.reason, ev.err)
	}
}

func TestShutdownRefusesWebSocket(t *testing.T) {
	srv := newTestServer(t, Options{})
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, res, err := websocket.DefaultDialer.Dial(srv.wsURL+"?EIO=4&transport=websocket", nil)
	if err == nil || res == nil || res.StatusCode != 503 {
		t.Fatalf("dial after Shutdown: %v %v, want 503", err, res)
	}
}

func TestMessageDataOwnedByCallee(t *testing.T) {
	srv := newTestServer(t, Options{})
	srv.echo = false
	got := make(chan []byte, 2)
	srv.OnConnection(func(so *Socket) {
		so.OnMessage(func(data []byte, _ bool) { got <- data })
	})
	c := newPollClient(t, srv.url)
	c.handshake()
	c.post("4abc\x1e4def")
	a, b := <-got, <-got
	a[0] = 'X'
	_ = append(a, "ZZZZ"...) // must not reach b, which shares the POST body
	if string(a) != "Xbc" || string(b) != "def" {
		t.Errorf("got %q %q", a, b)
	}
}

func TestLeakAfterUpgradeAndClose(t *testing.T) {
	leaks := testutil.TakeBaseline(t, testutil.GoroutinesOnly(), testutil.ExtraGoroutines(4)) // httptest server's accept loop and friends
	func() {
		srv := newTestServer(t, Options{})
		c := newPollClient(t, srv.url)
		c.handshake()
		ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket&sid="+c.sid)
		ws.send("2probe")
		ws.mustRead()
		ws.send("5")
		testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
			if srv.Socket(c.sid).Transport() != "websocket" {
				return errors.New("not upgraded")
			}
			return nil
		})
		ws.send("1")
		if ev := srv.waitClose(t); ev.reason != ReasonTransportClose {
			t.Errorf("reason %q", ev.reason)
		}
		ws.read()
		ws.c.Close()
		srv.ts.CloseClientConnections()
	}()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	leaks.Check(t)
}

// TestWebSocketFrameBeforeUpgradeResponse: a client that sends a frame
// together with its upgrade request (before the 101) is refused by
// gorilla/websocket: the connection closes with no response and no session.
func TestWebSocketFrameBeforeUpgradeResponse(t *testing.T) {
	srv := newTestServer(t, Options{})
	conn, err := net.Dial("tcp", srv.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// masked text frame "4hi" with a zero mask key
	frame := []byte{0x81, 0x83, 0, 0, 0, 0, '4', 'h', 'i'}
	req := fmt.Sprintf("GET %s?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", srv.Options().Path)
	if _, err := conn.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(conn)
	if len(b) != 0 || err != nil {
		t.Errorf("read %q, %v; want EOF with no response", b, err)
	}
	if n := srv.ClientsCount(); n != 0 {
		t.Errorf("ClientsCount %d", n)
	}
}

// TestPostBodies: a POST's body is read whole by its Content-Length and
// when chunked; one cut short of its Content-Length (the client stops
// sending) closes the session with a premature-close transport error.
func TestPostBodies(t *testing.T) {
	srv := newTestServer(t, Options{})
	c := newPollClient(t, srv.url)
	c.handshake()
	host := strings.TrimPrefix(srv.ts.URL, "http://")
	target := srv.Options().Path + "?" + c.sidQuery()
	post := func(head, body string) net.Conn {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if _, err := io.WriteString(conn, "POST "+target+" HTTP/1.1\r\nHost: x\r\n"+head+"\r\n"+body); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	answer := func(conn net.Conn) string {
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return fmt.Sprintf("%d %s", res.StatusCode, b)
	}
	conn := post("Content-Length: 7\r\n", "4by-len")
	if got := answer(conn); got != "200 ok" {
		t.Fatalf("Content-Length POST: %s", got)
	}
	conn = post("Transfer-Encoding: chunked\r\n", "3\r\n4by\r\n5\r\n-chun\r\n2\r\nk!\r\n0\r\n\r\n")
	if got := answer(conn); got != "200 ok" {
		t.Fatalf("chunked POST: %s", got)
	}
	for _, want := range []string{"by-len", "by-chunk!"} {
		if _, got, _ := strings.Cut(srv.waitMsg(t), " "); got != want {
			t.Fatalf("message %q, want %q", got, want)
		}
	}
	conn = post("Content-Length: 100\r\n", "4short")
	conn.(*net.TCPConn).CloseWrite()
	if ev := srv.waitClose(t); ev.reason != ReasonTransportError || !errors.Is(ev.err, ErrPrematureClose) {
		t.Errorf("closed with %q %v", ev.reason, ev.err)
	}
	if got := answer(conn); got != "400 " {
		t.Errorf("short POST: %s, want 400", got)
	}
}
