package engineio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stickyd/stickyd/internal/testutil"
)

var openRE = regexp.MustCompile(`^\{"sid":"([A-Za-z0-9_-]{20})","upgrades":(\[[^\]]*\]),"pingInterval":(\d+),"pingTimeout":(\d+),"maxPayload":(\d+)\}$`)

func TestHandshakePolling(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // upgrades, pingInterval, pingTimeout, maxPayload
	}{
		{"defaults", Options{}, `["websocket"] 25000 20000 1000000`},
		{"custom", Options{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond, MaxHTTPBufferSize: 5000}, `["websocket"] 300 200 5000`},
		{"upgrades disabled", Options{DisableUpgrades: true}, `[] 25000 20000 1000000`},
		{"polling only", Options{Transports: []string{"polling"}}, `[] 25000 20000 1000000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, tt.opts)
			c := newPollClient(t, srv.url)
			r := c.do("GET", "EIO=4&transport=polling", "", "")
			if r.status != 200 {
				t.Fatalf("status %d", r.status)
			}
			if got, want := r.header.Get("Content-Type"), "text/plain; charset=UTF-8"; got != want {
				t.Errorf("Content-Type %q, want %q", got, want)
			}
			if got := r.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			if r.header.Get("Connection") == "close" {
				t.Errorf("Connection: close on a polling response")
			}
			if r.body[0] != '0' {
				t.Fatalf("body %q is not an open packet", r.body)
			}
			m := openRE.FindStringSubmatch(r.body[1:])
			if m == nil {
				t.Fatalf("open packet %q does not match %v", r.body[1:], openRE)
			}
			if got := strings.Join(m[2:], " "); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if so := srv.Socket(m[1]); so == nil || so.Transport() != "polling" || so.Protocol() != 4 {
				t.Errorf("Socket(%q) = %v", m[1], so)
			}
			if n := srv.ClientsCount(); n != 1 {
				t.Errorf("ClientsCount = %d, want 1", n)
			}
		})
	}
}

func TestHandshakeWebSocketOnly(t *testing.T) {
	srv := newTestServer(t, Options{})
	ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
	open := ws.mustRead()
	m := openRE.FindStringSubmatch(strings.TrimPrefix(open, "0"))
	if m == nil || open[0] != '0' {
		t.Fatalf("open packet %q", open)
	}
	if m[2] != "[]" {
		t.Errorf("upgrades %s, want []", m[2])
	}
	if so := srv.Socket(m[1]); so == nil || so.Transport() != "websocket" {
		t.Fatalf("Socket(%q) = %v", m[1], so)
	}
	ws.send("4hello")
	if got := ws.readSkipPings(); got != "4hello" {
		t.Errorf("echo %q, want 4hello", got)
	}
	if err := ws.c.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if got := ws.readSkipPings(); got != "b:010203" {
		t.Errorf("binary echo %q, want b:010203", got)
	}
	ws.send("bAQID") // binary as base64 text is accepted too
	if got := ws.readSkipPings(); got != "b:010203" {
		t.Errorf("base64 echo %q, want b:010203", got)
	}
}

func TestPollingSendReceive(t *testing.T) {
	srv := newTestServer(t, Options{})
	c := newPollClient(t, srv.url)
	c.handshake()
	r := c.post("4hello\x1e4world\x1ebAQIDBA==")
	if r.status != 200 || r.body != "ok" || r.header.Get("Content-Type") != "text/html" {
		t.Fatalf("POST: %d %q %q", r.status, r.body, r.header.Get("Content-Type"))
	}
	for _, want := range []string{c.sid + " hello", c.sid + " world", c.sid + " b:01020304"} {
		if got := srv.waitMsg(t); got != want {
			t.Errorf("message %q, want %q", got, want)
		}
	}
	if r := c.get(); r.status != 200 || r.body != "4hello\x1e4world\x1ebAQIDBA==" {
		t.Errorf("GET: %d %q", r.status, r.body)
	}
}

func TestPollingLongPollReleasedByWrite(t *testing.T) {
	srv := newTestServer(t, Options{})
	c := newPollClient(t, srv.url)
	c.handshake()
	got := make(chan resp, 1)
	go func() { got <- c.get() }()
	so := srv.Socket(c.sid)
	// WriteVolatile succeeds only once the GET is pending.
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if !so.WriteVolatile(NewTextFrame([]byte("v"))) {
			return errors.New("GET not pending yet")
		}
		return nil
	})
	if r := <-got; r.status != 200 || r.body != "4v" {
		t.Errorf("GET: %d %q, want 200 4v", r.status, r.body)
	}
	if so.WriteVolatile(NewTextFrame([]byte("dropped"))) {
		t.Error("WriteVolatile with no GET pending = true, want false")
	}
	if err := so.WriteBatch([]*Frame{NewTextFrame([]byte("a")), NewBinaryFrame([]byte{9}), NewTextFrame([]byte("b"))}); err != nil {
		t.Fatal(err)
	}
	if r := c.get(); r.body != "4a\x1ebCQ==\x1e4b" {
		t.Errorf("GET: %q", r.body)
	}
}

func TestPollingKeepAlivePipelining(t *testing.T) {
	srv := newTestServer(t, Options{})
	c := newPollClient(t, srv.url)
	c.handshake()
	conn, err := net.Dial("tcp", srv.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	path := srv.Options().Path + "?" + c.sidQuery()
	body := "4pipelined"
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	br := bufio.NewReader(conn)
	for _, want := range []string{"ok", "4pipelined"} {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, res.ContentLength)
		if _, err := io.ReadFull(br, b); err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 || string(b) != want || res.Close {
			t.Errorf("got %d %q close=%v, want 200 %q keep-alive", res.StatusCode, b, res.Close, want)
		}
	}
}

func TestUpgrade(t *testing.T) {
	srv := newTestServer(t, Options{})
	var upgraded atomic.Int32
	srv.OnConnection(func(so *Socket) { so.OnUpgrade(func() { upgraded.Add(1) }) })
	c := newPollClient(t, srv.url)
	c.handshake()
	pending, so := srv.pendingGet(t, c)
	ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket&sid="+c.sid)
	ws.send("2probe")
	if got := ws.mustRead(); got != "3probe" {
		t.Fatalf("probe answer %q, want 3probe", got)
	}
	if r := <-pending; r.status != 200 || r.body != "6" {
		t.Fatalf("pending GET: %d %q, want 200 6", r.status, r.body)
	}
	if err := so.Write(NewTextFrame([]byte("queued during upgrade"))); err != nil {
		t.Fatal(err)
	}
	ws.send("5")
	if got := ws.readSkipPings(); got != "4queued during upgrade" {
		t.Errorf("after upgrade got %q", got)
	}
	if so.Transport() != "websocket" || upgraded.Load() != 1 {
		t.Errorf("transport %s, OnUpgrade calls %d", so.Transport(), upgraded.Load())
	}
	ws.send("4hello")
	if got := ws.readSkipPings(); got != "4hello" {
		t.Errorf("echo %q", got)
	}
	if r := c.get(); r.status != 400 || r.body != `{"code":3,"message":"Bad request"}` {
		t.Errorf("polling GET after upgrade: %d %q", r.status, r.body)
	}
	// A second websocket for the same sid is accepted and closed at once.
	ws2 := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket&sid="+c.sid)
	if _, err := ws2.read(); !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
		t.Errorf("second websocket read: %v, want close 1005", err)
	}
	ws.send("4still")
	if got := ws.readSkipPings(); got != "4still" {
		t.Errorf("echo after second ws %q", got)
	}
}

func TestUpgradeAborted(t *testing.T) {
	tests := []struct {
		name string
		send string // "" sends nothing (upgrade timeout)
	}{
		{"message before probe", "4early"},
		{"garbage frame", "zzz"},
		{"timeout", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, Options{UpgradeTimeout: 100 * time.Millisecond})
			c := newPollClient(t, srv.url)
			c.handshake()
			ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket&sid="+c.sid)
			if tt.send != "" {
				ws.send(tt.send)
			}
			if _, err := ws.read(); !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
				t.Fatalf("candidate read: %v, want close 1005", err)
			}
			// The session carries on over polling.
			if r := c.post("4after"); r.status != 200 {
				t.Fatalf("POST after aborted upgrade: %d", r.status)
			}
			if r := c.get(); r.body != "4after" {
				t.Errorf("GET %q, want 4after", r.body)
			}
			so := srv.Socket(c.sid)
			if so == nil || so.Transport() != "polling" {
				t.Fatalf("session %v", so)
			}
			// and may upgrade again.
			ws2 := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket&sid="+c.sid)
			ws2.send("2probe")
			if got := ws2.mustRead(); got != "3probe" {
				t.Errorf("second probe %q", got)
			}
		})
	}
}

func TestPingPong(t *testing.T) {
	opts := Options{PingInterval: 30 * time.Millisecond, PingTimeout: 300 * time.Millisecond}
	t.Run("websocket", func(t *testing.T) {
		srv := newTestServer(t, opts)
		ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
		ws.mustRead()
		for i := 0; i < 5; i++ {
			if got := ws.mustRead(); got != "2" {
				t.Fatalf("got %q, want ping", got)
			}
			ws.send("3")
		}
		select {
		case ev := <-srv.closed:
			t.Fatalf("closed while answering pings: %+v", ev)
		default:
		}
		// Stop answering: closed with "ping timeout" and a close frame.
		if got := ws.mustRead(); got != "2" {
			t.Fatalf("got %q, want ping", got)
		}
		if ev := srv.waitClose(t); ev.reason != ReasonPingTimeout {
			t.Errorf("reason %q, want ping timeout", ev.reason)
		}
		if _, err := ws.read(); !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
			t.Errorf("read after timeout: %v, want close frame", err)
		}
	})
	t.Run("polling", func(t *testing.T) {
		srv := newTestServer(t, opts)
		c := newPollClient(t, srv.url)
		c.handshake()
		for i := 0; i < 5; i++ {
			if r := c.get(); r.body != "2" {
				t.Fatalf("GET %q, want ping", r.body)
			}
			if r := c.post("3"); r.status != 200 {
				t.Fatalf("POST pong: %d", r.status)
			}
		}
		if r := c.get(); r.body != "2" {
			t.Fatalf("GET %q, want ping", r.body)
		}
		if ev := srv.waitClose(t); ev.reason != ReasonPingTimeout {
			t.Errorf("reason %q, want ping timeout", ev.reason)
		}
		if r := c.get(); r.status != 400 || r.body != `{"code":1,"message":"Session ID unknown"}` {
			t.Errorf("GET after timeout: %d %q", r.status, r.body)
		}
	})
}
