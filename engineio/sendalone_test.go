package engineio

import (
	"bytes"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// writeRecorder is a listener whose connections record each Write. Its
// connections are no syscall.Conn: the transport writes through Write
// (one per batch, see wsBatch.writeConn), so a test sees the writes.
type writeRecorder struct {
	net.Listener
	writes chan []byte
}

func (l *writeRecorder) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recordedConn{Conn: c, writes: l.writes}, nil
}

type recordedConn struct {
	net.Conn
	writes chan []byte
}

func (c *recordedConn) Write(b []byte) (int, error) {
	c.writes <- bytes.Clone(b)
	return c.Conn.Write(b)
}

// nextFrameWrite returns the next recorded write that is websocket frames
// (not the HTTP handshake answer), failing after 5 s.
func (l *writeRecorder) nextFrameWrite(t *testing.T) []byte {
	t.Helper()
	for {
		select {
		case w := <-l.writes:
			if !strings.HasPrefix(string(w), "HTTP/") {
				return w
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no write within 5s")
		}
	}
}

// TestSendAloneEndsWrite: frames sent with SendAlone end their websocket
// write; what is queued after them goes in the next write. The frames are
// sent while the open packet is held (OnConnection), so without the cut
// the open packet, "alone" and "next" would be one write.
func TestSendAloneEndsWrite(t *testing.T) {
	srv := NewServer(Options{PingInterval: time.Hour, PingTimeout: time.Hour})
	srv.OnConnection(func(so *Socket) {
		if _, err := so.Send([]*Frame{NewTextFrame([]byte("alone"))}, SendAlone); err != nil {
			t.Error(err)
		}
		if err := so.Write(NewTextFrame([]byte("next"))); err != nil {
			t.Error(err)
		}
	})
	ts := httptest.NewUnstartedServer(srv)
	rec := &writeRecorder{Listener: ts.Listener, writes: make(chan []byte, 16)}
	ts.Listener = rec
	ts.Start()
	defer ts.Close()
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/engine.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	first := rec.nextFrameWrite(t)
	if !bytes.Contains(first, []byte("0{")) || !bytes.HasSuffix(first, []byte("4alone")) {
		t.Fatalf("first write %q: want the open packet, then 4alone at its end", first)
	}
	if second := rec.nextFrameWrite(t); !bytes.HasSuffix(second, []byte("4next")) || bytes.Contains(second, []byte("alone")) {
		t.Fatalf("second write %q: want 4next alone", second)
	}
	for _, want := range []string{"0{", "4alone", "4next"} {
		_, m, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(m), want) {
			t.Fatalf("message %q, want %s...", m, want)
		}
	}
}
