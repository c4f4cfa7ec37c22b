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
	writes chan recordedWrite
}

// recordedWrite is one Write: its bytes and when it started.
type recordedWrite struct {
	b  []byte
	at time.Time
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
	writes chan recordedWrite
}

func (c *recordedConn) Write(b []byte) (int, error) {
	c.writes <- recordedWrite{b: bytes.Clone(b), at: time.Now()}
	return c.Conn.Write(b)
}

// nextFrameWrite returns the next recorded write that is websocket frames
// (not the HTTP handshake answer), failing after 5 s.
func (l *writeRecorder) nextFrameWrite(t *testing.T) recordedWrite {
	t.Helper()
	for {
		select {
		case w := <-l.writes:
			if !strings.HasPrefix(string(w.b), "HTTP/") {
				return w
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no write within 5s")
		}
	}
}

// TestSendAloneEndsWrite: frames sent with SendAlone end their websocket
// write; what is queued after them goes in the next write, at least
// aloneGap later. The frames are sent while the open packet is held
// (OnConnection), so without the cut the open packet, "alone" and "next"
// would be one write. Without the gap "next" followed within microseconds
// and a client reading one message per read(2) lost it (the
// socket.io-protocol suite's client: 264 of 320 runs of its tests passed).
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
	rec := &writeRecorder{Listener: ts.Listener, writes: make(chan recordedWrite, 16)}
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
	if !bytes.Contains(first.b, []byte("0{")) || !bytes.HasSuffix(first.b, []byte("4alone")) {
		t.Fatalf("first write %q: want the open packet, then 4alone at its end", first.b)
	}
	second := rec.nextFrameWrite(t)
	if !bytes.HasSuffix(second.b, []byte("4next")) || bytes.Contains(second.b, []byte("alone")) {
		t.Fatalf("second write %q: want 4next alone", second.b)
	}
	if gap := second.at.Sub(first.at); gap < aloneGap {
		t.Fatalf("second write %v after the first, want at least %v", gap, aloneGap)
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
