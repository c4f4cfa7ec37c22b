package engineio

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

func TestRequestErrors(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		method string
		path   string // relative to the server root
		status int
		body   string
	}{
		{"EIO 3", Options{}, "GET", "/engine.io/?EIO=3&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"EIO missing", Options{}, "GET", "/engine.io/?transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"unknown transport", Options{}, "GET", "/engine.io/?EIO=4&transport=foo", 400, `{"code":0,"message":"Transport unknown"}`},
		{"transport missing", Options{}, "GET", "/engine.io/?EIO=4", 400, `{"code":0,"message":"Transport unknown"}`},
		{"transport disabled", Options{Transports: []string{"websocket"}}, "GET", "/engine.io/?EIO=4&transport=polling", 400, `{"code":0,"message":"Transport unknown"}`},
		{"unknown sid", Options{}, "GET", "/engine.io/?EIO=4&transport=polling&sid=nope", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"unknown sid POST", Options{}, "POST", "/engine.io/?EIO=4&transport=polling&sid=nope", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"POST handshake", Options{}, "POST", "/engine.io/?EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"OPTIONS without CORS", Options{}, "OPTIONS", "/engine.io/?EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"websocket without upgrade", Options{}, "GET", "/engine.io/?EIO=4&transport=websocket", 400, `{"code":3,"message":"Bad request"}`},
		{"forbidden", Options{AllowRequest: func(*http.Request) error { return errors.New("not you") }}, "GET", "/engine.io/?EIO=4&transport=polling", 403, `{"code":4,"message":"not you"}`},
		{"forbidden no text", Options{AllowRequest: func(*http.Request) error { return errors.New("") }}, "GET", "/engine.io/?EIO=4&transport=polling", 403, `{"code":4,"message":"Forbidden"}`},
		{"forbidden before EIO", Options{AllowRequest: func(*http.Request) error { return errors.New("x") }}, "GET", "/engine.io/?EIO=3&transport=polling", 403, `{"code":4,"message":"x"}`},
		{"id generation fails", Options{GenerateID: func(*http.Request) (string, error) { return "", errors.New("boom") }}, "GET", "/engine.io/?EIO=4&transport=polling", 400, `{"code":3,"message":"Bad request"}`},
		{"other path", Options{}, "GET", "/other/?EIO=4&transport=polling", 404, "404 page not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, tt.opts)
			req, _ := http.NewRequest(tt.method, srv.ts.URL+tt.path, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.status || string(b) != tt.body {
				t.Errorf("got %d %q, want %d %q", res.StatusCode, b, tt.status, tt.body)
			}
			if tt.status != 404 && res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", res.Header.Get("Content-Type"))
			}
			if n := srv.ClientsCount(); n != 0 {
				t.Errorf("ClientsCount = %d", n)
			}
		})
	}
}

func TestWebSocketHandshakeErrors(t *testing.T) {
	tests := []struct {
		name  string
		query string
		body  string
	}{
		{"EIO 3", "EIO=3&transport=websocket", "Unsupported protocol version"},
		{"unknown transport", "EIO=4&transport=foo", "Transport unknown"},
		{"unknown sid", "EIO=4&transport=websocket&sid=nope", "Session ID unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, Options{})
			_, res, err := websocket.DefaultDialer.Dial(srv.wsURL+"?"+tt.query, nil)
			if err == nil || res == nil {
				t.Fatalf("dial: %v, want a refused handshake", err)
			}
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != 400 || string(b) != tt.body {
				t.Errorf("got %d %q, want 400 %q", res.StatusCode, b, tt.body)
			}
		})
	}
}

// TestPollingBadInput covers session-level bad input: each closes the
// session with Node's reason, and the next request gets 400 code 1.
func TestPollingBadInput(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		reason      string
		err         error
	}{
		{"garbage payload", "text/plain", "abc", 400, ReasonParseError, ErrBadPacket},
		{"empty payload", "text/plain", "", 400, ReasonParseError, ErrBadPacket},
		{"bad base64", "text/plain", "b!!!", 400, ReasonParseError, ErrBadPacket},
		{"octet-stream", "application/octet-stream", "4hi", 400, ReasonTransportError, ErrBadContent},
		{"oversized", "text/plain", "4" + strings.Repeat("x", 100), 413, ReasonTransportError, ErrPayloadTooLarge},
		{"client ping", "text/plain", "2", 200, ReasonTransportError, ErrHeartbeatDirection},
		{"close packet", "text/plain", "1", 200, ReasonTransportClose, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, Options{MaxHTTPBufferSize: 50})
			c := newPollClient(t, srv.url)
			c.handshake()
			if r := c.do("POST", c.sidQuery(), tt.contentType, tt.body); r.status != tt.status {
				t.Errorf("POST: %d %q, want %d", r.status, r.body, tt.status)
			}
			ev := srv.waitClose(t)
			if ev.reason != tt.reason || !errors.Is(ev.err, tt.err) || (tt.err == nil && ev.err != nil) {
				t.Errorf("closed with %q %v, want %q %v", ev.reason, ev.err, tt.reason, tt.err)
			}
			if r := c.get(); r.status != 400 || r.body != `{"code":1,"message":"Session ID unknown"}` {
				t.Errorf("GET after: %d %q", r.status, r.body)
			}
		})
	}
}

func TestPollingMessagesBeforeGarbageAreDelivered(t *testing.T) {
	srv := newTestServer(t, Options{})
	c := newPollClient(t, srv.url)
	c.handshake()
	if r := c.post("4first\x1e%%%"); r.status != 400 {
		t.Errorf("POST: %d", r.status)
	}
	if got := srv.waitMsg(t); got != c.sid+" first" {
		t.Errorf("message %q", got)
	}
	if ev := srv.waitClose(t); ev.reason != ReasonParseError {
		t.Errorf("reason %q", ev.reason)
	}
}

func TestPollingConcurrentGet(t *testing.T) {
	srv := newTestServer(t, Options{})
	c := newPollClient(t, srv.url)
	c.handshake()
	first, _ := srv.pendingGet(t, c)
	if r := c.get(); r.status != 400 || r.body != "" {
		t.Errorf("second GET: %d %q, want 400 empty", r.status, r.body)
	}
	if r := <-first; r.status != 200 || r.body != "1" {
		t.Errorf("first GET: %d %q, want 200 1", r.status, r.body)
	}
	if ev := srv.waitClose(t); ev.reason != ReasonTransportError || !errors.Is(ev.err, ErrPollOverlap) {
		t.Errorf("closed with %q %v", ev.reason, ev.err)
	}
	if r := c.get(); r.status != 400 {
		t.Errorf("GET after: %d", r.status)
	}
}

func TestPollingClientCloseReleasesGet(t *testing.T) {
	srv := newTestServer(t, Options{})
	c := newPollClient(t, srv.url)
	c.handshake()
	pending, _ := srv.pendingGet(t, c)
	if r := c.post("1"); r.status != 200 || r.body != "ok" {
		t.Errorf("POST close: %d %q", r.status, r.body)
	}
	if r := <-pending; r.status != 200 || r.body != "6" {
		t.Errorf("pending GET: %d %q, want 200 6", r.status, r.body)
	}
	if ev := srv.waitClose(t); ev.reason != ReasonTransportClose {
		t.Errorf("reason %q", ev.reason)
	}
}

func TestWebSocketBadInput(t *testing.T) {
	tests := []struct {
		name   string
		msgT   int
		data   string
		reason string
		err    error
	}{
		{"garbage text", websocket.TextMessage, "x", ReasonParseError, ErrBadPacket},
		{"empty text", websocket.TextMessage, "", ReasonParseError, ErrBadPacket},
		{"invalid utf8", websocket.TextMessage, "4\xff", ReasonTransportError, ErrBadPacket},
		{"oversized", websocket.TextMessage, "4" + strings.Repeat("x", 100), ReasonTransportError, ErrPayloadTooLarge},
		{"client ping", websocket.TextMessage, "2", ReasonTransportError, ErrHeartbeatDirection},
		{"close packet", websocket.TextMessage, "1", ReasonTransportClose, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, Options{MaxHTTPBufferSize: 50})
			ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
			ws.mustRead()
			if err := ws.c.WriteMessage(tt.msgT, []byte(tt.data)); err != nil {
				t.Fatal(err)
			}
			ev := srv.waitClose(t)
			if ev.reason != tt.reason || !errors.Is(ev.err, tt.err) || (tt.err == nil && ev.err != nil) {
				t.Errorf("closed with %q %v, want %q %v", ev.reason, ev.err, tt.reason, tt.err)
			}
			if _, err := ws.read(); !websocket.IsCloseError(err, websocket.CloseNoStatusReceived, websocket.CloseMessageTooBig) {
				t.Errorf("client read: %v, want a close frame", err)
			}
		})
	}
}

func TestWebSocketClientGoneIsTransportClose(t *testing.T) {
	srv := newTestServer(t, Options{})
	ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
	ws.mustRead()
	ws.c.Close() // no close frame: TCP FIN
	if ev := srv.waitClose(t); ev.reason != ReasonTransportClose {
		t.Errorf("reason %q %v, want transport close", ev.reason, ev.err)
	}
}
