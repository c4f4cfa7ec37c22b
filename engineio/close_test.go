package engineio

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stickyd/stickyd/internal/testutil"
)

func TestSocketCloseFlushesQueue(t *testing.T) {
	t.Run("polling, no GET pending", func(t *testing.T) {
		srv := newTestServer(t, Options{})
		c := newPollClient(t, srv.url)
		c.handshake()
		so := srv.Socket(c.sid)
		if err := so.Write(NewTextFrame([]byte("last"))); err != nil {
			t.Fatal(err)
		}
		if err := so.Close(); err != nil {
			t.Fatal(err)
		}
		if err := so.Write(NewTextFrame([]byte("late"))); !errors.Is(err, ErrClosed) {
			t.Errorf("Write while closing: %v, want ErrClosed", err)
		}
		if r := c.get(); r.body != "4last\x1e1" {
			t.Errorf("GET %q, want queued frame then close", r.body)
		}
		if ev := srv.waitClose(t); ev.reason != ReasonForcedClose {
			t.Errorf("reason %q", ev.reason)
		}
		if err := so.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
	t.Run("websocket", func(t *testing.T) {
		srv := newTestServer(t, Options{})
		ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
		open := ws.mustRead()
		so := srv.Socket(openRE.FindStringSubmatch(open[1:])[1])
		if err := so.WriteBatch([]*Frame{NewTextFrame([]byte("a")), NewTextFrame([]byte("b"))}); err != nil {
			t.Fatal(err)
		}
		so.Close()
		for _, want := range []string{"4a", "4b"} {
			if got := ws.readSkipPings(); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		}
		if _, err := ws.read(); !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
			t.Errorf("read: %v, want close frame", err)
		}
		if ev := srv.waitClose(t); ev.reason != ReasonForcedClose {
			t.Errorf("reason %q", ev.reason)
		}
	})
}

func TestServerClose(t *testing.T) {
	srv := newTestServer(t, Options{})
	c := newPollClient(t, srv.url)
	c.handshake()
	pending, _ := srv.pendingGet(t, c)
	ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
	ws.mustRead()
	srv.Close()
	if r := <-pending; r.body != "1" {
		t.Errorf("pending GET %q, want close packet", r.body)
	}
	if _, err := ws.read(); !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
		t.Errorf("ws read: %v", err)
	}
	for i := 0; i < 2; i++ {
		if ev := srv.waitClose(t); ev.reason != ReasonForcedClose {
			t.Errorf("reason %q", ev.reason)
		}
	}
	r := c.do("GET", "EIO=4&transport=polling", "", "")
	if r.status != 503 || r.body != `{"code":3,"message":"Server shutting down"}` {
		t.Errorf("handshake after Close: %d %q", r.status, r.body)
	}
	if n := srv.ClientsCount(); n != 0 {
		t.Errorf("ClientsCount %d", n)
	}
}

func TestServerShutdown(t *testing.T) {
	t.Run("graceful", func(t *testing.T) {
		srv := newTestServer(t, Options{})
		ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
		open := ws.mustRead()
		so := srv.Socket(openRE.FindStringSubmatch(open[1:])[1])
		so.Write(NewTextFrame([]byte("bye")))
		done := make(chan error, 1)
		go func() { done <- srv.Shutdown(context.Background()) }()
		if got := ws.readSkipPings(); got != "4bye" {
			t.Errorf("got %q, want queued frame before close", got)
		}
		if err := <-done; err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if ev := srv.waitClose(t); ev.reason != ReasonShutdown {
			t.Errorf("reason %q", ev.reason)
		}
	})
	t.Run("idle poller closed after the grace", func(t *testing.T) {
		srv := newTestServer(t, Options{})
		c := newPollClient(t, srv.url)
		c.handshake() // never polls again: it cannot fetch its close packet
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v, want nil (idle poller closed after ShutdownPollGrace, not at the deadline)", err)
		}
		if ev := srv.waitClose(t); ev.reason != ReasonShutdown || ev.err != nil {
			t.Errorf("closed with %q %v", ev.reason, ev.err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		srv := newTestServer(t, Options{})
		c := newPollClient(t, srv.url)
		c.handshake() // never polls again
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v, want deadline exceeded", err)
		}
		if ev := srv.waitClose(t); ev.reason != ReasonShutdown || !errors.Is(ev.err, context.DeadlineExceeded) {
			t.Errorf("closed with %q %v", ev.reason, ev.err)
		}
		if n := srv.ClientsCount(); n != 0 {
			t.Errorf("ClientsCount %d", n)
		}
	})
}

func TestWriteBufferFull(t *testing.T) {
	srv := newTestServer(t, Options{MaxBufferedBytes: 100})
	c := newPollClient(t, srv.url)
	c.handshake()
	so := srv.Socket(c.sid)
	if err := so.Write(NewTextFrame(make([]byte, 60))); err != nil {
		t.Fatal(err)
	}
	if err := so.Write(NewTextFrame(make([]byte, 60))); !errors.Is(err, ErrBufferFull) {
		t.Errorf("Write: %v, want ErrBufferFull", err)
	}
	if ev := srv.waitClose(t); ev.reason != ReasonTransportError || !errors.Is(ev.err, ErrBufferFull) {
		t.Errorf("closed with %q %v", ev.reason, ev.err)
	}
	if err := so.Write(NewTextFrame(nil)); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after close: %v, want ErrClosed", err)
	}
}

func TestCORS(t *testing.T) {
	tests := []struct {
		name    string
		cors    *CORSOptions
		method  string
		reqHdr  map[string]string
		status  int
		wantHdr map[string]string
	}{
		{"any origin GET", &CORSOptions{Origin: "*"}, "GET", map[string]string{"Origin": "http://a.test"}, 200,
			map[string]string{"Access-Control-Allow-Origin": "*"}},
		{"preflight", &CORSOptions{Origin: "*"}, "OPTIONS", map[string]string{"Origin": "http://a.test", "Access-Control-Request-Headers": "x-foo"}, 204,
			map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET,HEAD,PUT,PATCH,POST,DELETE", "Access-Control-Allow-Headers": "x-foo", "Vary": "Access-Control-Request-Headers"}},
		{"reflect with credentials", &CORSOptions{Credentials: true, MaxAge: time.Hour}, "OPTIONS", map[string]string{"Origin": "http://a.test"}, 204,
			map[string]string{"Access-Control-Allow-Origin": "http://a.test", "Access-Control-Allow-Credentials": "true", "Vary": "Origin, Access-Control-Request-Headers", "Access-Control-Max-Age": "3600"}},
		{"exact origin", &CORSOptions{Origin: "http://b.test", Methods: []string{"GET", "POST"}, AllowedHeaders: []string{"a", "b"}}, "OPTIONS", nil, 204,
			map[string]string{"Access-Control-Allow-Origin": "http://b.test", "Access-Control-Allow-Methods": "GET,POST", "Access-Control-Allow-Headers": "a,b"}},
		{"error responses too", &CORSOptions{Origin: "*"}, "POST", nil, 400,
			map[string]string{"Access-Control-Allow-Origin": "*"}},
		{"no CORS", nil, "GET", map[string]string{"Origin": "http://a.test"}, 200,
			map[string]string{"Access-Control-Allow-Origin": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, Options{CORS: tt.cors})
			req, _ := http.NewRequest(tt.method, srv.url+"?EIO=4&transport=polling", nil)
			for k, v := range tt.reqHdr {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d", res.StatusCode, tt.status)
			}
			for k, want := range tt.wantHdr {
				if got := strings.Join(res.Header.Values(k), ", "); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestCookie(t *testing.T) {
	srv := newTestServer(t, Options{Cookie: &CookieOptions{HTTPOnly: true}})
	c := newPollClient(t, srv.url)
	r := c.do("GET", "EIO=4&transport=polling", "", "")
	sid := openRE.FindStringSubmatch(r.body[1:])[1]
	if got, want := r.header.Get("Set-Cookie"), "io="+sid+"; Path=/; HttpOnly; SameSite=Lax"; got != want {
		t.Errorf("Set-Cookie %q, want %q", got, want)
	}
	c.sid = sid
	c.post("4x")
	if r := c.get(); r.header.Get("Set-Cookie") != "" {
		t.Errorf("Set-Cookie on a later GET: %q", r.header.Get("Set-Cookie"))
	}
	srv2 := newTestServer(t, Options{Cookie: &CookieOptions{Name: "sticky", Path: "/app", Secure: true, SameSite: http.SameSiteStrictMode}})
	r = newPollClient(t, srv2.url).do("GET", "EIO=4&transport=polling", "", "")
	sid = openRE.FindStringSubmatch(r.body[1:])[1]
	if got, want := r.header.Get("Set-Cookie"), "sticky="+sid+"; Path=/app; Secure; SameSite=Strict"; got != want {
		t.Errorf("Set-Cookie %q, want %q", got, want)
	}
}

func TestSessionHooksAndIDs(t *testing.T) {
	var opened, closed atomic.Int32
	var mu sync.Mutex
	var order []string
	record := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	var n atomic.Int32
	srv := newTestServer(t, Options{
		GenerateID:     func(*http.Request) (string, error) { return "id-" + string(rune('a'+n.Add(1))), nil },
		OnSessionOpen:  func(sid string) { opened.Add(1); record("open " + sid) },
		OnSessionClose: func(sid, reason string) { closed.Add(1) },
	})
	srv.OnConnection(func(so *Socket) { record("conn " + so.ID()) })
	c := newPollClient(t, srv.url)
	open := c.handshake()
	mu.Lock()
	got := strings.Join(order, ",")
	mu.Unlock()
	if !strings.HasPrefix(open, `{"sid":"id-b",`) || got != "open id-b,conn id-b" {
		t.Errorf("open %q, order %v", open, got)
	}
	srv.Socket("id-b").Close()
	c.get()
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if opened.Load() != 1 || closed.Load() != 1 {
			return errors.New("hooks not called once each")
		}
		return nil
	})
}

func TestNoGoroutineLeak(t *testing.T) {
	leaks := testutil.TakeBaseline(t, testutil.GoroutinesOnly(), testutil.ExtraGoroutines(4)) // httptest server's accept loop and friends
	srv := newTestServer(t, Options{PingInterval: 20 * time.Millisecond, PingTimeout: time.Second})
	var wss []*wsClient
	for i := 0; i < 10; i++ {
		ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
		ws.mustRead()
		wss = append(wss, ws)
		c := newPollClient(t, srv.url)
		c.handshake()
		c.post("4x")
	}
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if srv.ClientsCount() != 20 {
			return errors.New("sessions not open")
		}
		return nil
	})
	srv.Server.Close()
	for _, ws := range wss {
		ws.read()
		ws.c.Close()
	}
	srv.ts.CloseClientConnections()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	leaks.Check(t)
}
