package engineio

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The session keeps its handshake request compact and rebuilds it on
// demand: every part survives, and each call returns a copy of its own.
func TestHandshakeRequestRebuilt(t *testing.T) {
	s := newTestServer(t, Options{})
	got := make(chan *Socket, 1)
	s.OnConnection(func(so *Socket) { got <- so })
	hdr := http.Header{"X-List": {"a", "b:c"}, "Origin": {"http://example.com"}}
	ws, _, err := websocket.DefaultDialer.Dial(s.wsURL+"?EIO=4&transport=websocket&room=blue&x=%20y", hdr)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var so *Socket
	select {
	case so = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no session")
	}
	r := so.Request()
	if r.Method != http.MethodGet || r.URL.Path != s.Options().Path || r.URL.Query().Get("room") != "blue" ||
		r.Proto != "HTTP/1.1" || r.Host != strings.TrimPrefix(s.ts.URL, "http://") || r.TLS != nil ||
		!strings.HasPrefix(r.RemoteAddr, "127.0.0.1:") || r.Body != http.NoBody || r.Context() == nil ||
		!strings.HasPrefix(r.RequestURI, s.Options().Path+"?EIO=4") {
		t.Fatalf("request %+v", r)
	}
	if l := r.Header["X-List"]; len(l) != 2 || l[0] != "a" || l[1] != "b:c" || r.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("headers %v", r.Header)
	}
	if q := so.Query(); q.Get("x") != " y" || q.Get("EIO") != "4" {
		t.Fatalf("query %v", q)
	}
	if so.RequestHeaderValue("Origin") != "http://example.com" || so.RequestHeaderValue("X-None") != "" ||
		so.RemoteAddr() != r.RemoteAddr || so.RequestURI() != r.RequestURI {
		t.Fatal("accessors disagree with Request")
	}
	r.Header.Set("X-List", "changed")
	r.URL.RawQuery = ""
	if again := so.Request(); again.Header.Get("X-List") != "a" || again.URL.Query().Get("room") != "blue" {
		t.Fatalf("a caller's change reached the session: %+v", again)
	}
}

// Method, protocol version and TLS state are kept too.
func TestHandshakeKeepsTLSAndMethod(t *testing.T) {
	r := httptest.NewRequest("OPTIONS", "https://h.example/engine.io/?EIO=4", nil)
	r.ProtoMinor = 0
	r.TLS = &tls.ConnectionState{ServerName: "h.example"}
	r.Header.Set("Bad", "x\ny")
	h := newHandshake(r)
	got := h.request()
	if got.Method != "OPTIONS" || got.TLS != r.TLS || got.Proto != "HTTP/1.0" || got.Host != "h.example" ||
		got.URL.RawQuery != "EIO=4" || got.Header.Get("Bad") != "x y" {
		t.Fatalf("request %+v", got)
	}
}
