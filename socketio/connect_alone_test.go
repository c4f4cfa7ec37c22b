package socketio

import (
	"bytes"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// heldConn passes its writes on one by one: while held is set, Write
// waits until release; each write is recorded. It is no syscall.Conn, so
// the engine writes it with Write, one call per batch.
type heldConn struct {
	net.Conn
	mu      sync.Mutex
	held    chan struct{} // non-nil: writes wait until it is closed
	written chan []byte
}

func (c *heldConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	held := c.held
	c.mu.Unlock()
	if held != nil {
		<-held
	}
	c.written <- bytes.Clone(b)
	return c.Conn.Write(b)
}

// hold makes the next writes wait; the returned func lets them go.
func (c *heldConn) hold() func() {
	ch := make(chan struct{})
	c.mu.Lock()
	c.held = ch
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.held = nil
		c.mu.Unlock()
		close(ch)
	}
}

type heldListener struct {
	net.Listener
	conns chan *heldConn
}

func (l *heldListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	hc := &heldConn{Conn: c, written: make(chan []byte, 64)}
	l.conns <- hc
	return hc, nil
}

// TestConnectAnswerWrittenAlone: the CONNECT answer never shares a
// websocket write with what follows it. A broadcast's write is held so
// that the answer to a second namespace's CONNECT and the event its
// connection handler emits queue up behind it; once it is let go the
// answer must end its write and the event come in another.
func TestConnectAnswerWrittenAlone(t *testing.T) {
	io := NewServer(Options{})
	mainConnected := make(chan struct{}, 1)
	io.OnConnection(func(*Socket) { mainConnected <- struct{}{} })
	emitted := make(chan struct{}, 1)
	io.Of("/custom").OnConnection(func(s *Socket) {
		_ = s.Emit("auth", "x")
		emitted <- struct{}{}
	})
	ts := httptest.NewUnstartedServer(io)
	ln := &heldListener{Listener: ts.Listener, conns: make(chan *heldConn, 1)}
	ts.Listener = ln
	ts.Start()
	defer ts.Close()
	defer io.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	conn := <-ln.conns
	read := func(prefix string) {
		t.Helper()
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, m, err := ws.ReadMessage()
		if err != nil || !strings.HasPrefix(string(m), prefix) {
			t.Fatalf("read %q, %v; want %s...", m, err, prefix)
		}
	}
	read("0{")
	_ = ws.WriteMessage(websocket.TextMessage, []byte("40"))
	read("40{")
	// The answer may be read before the socket lets writes through (its
	// handlers run after): wait, so that the broadcast is queued at once.
	select {
	case <-mainConnected:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection to /")
	}
	release := conn.hold()
	if err := io.Emit("news", 1); err != nil {
		t.Fatal(err)
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte("40/custom,"))
	select {
	case <-emitted:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection to /custom")
	}
	release()
	read(`42["news"`)
	read("40/custom,")
	read(`42/custom,["auth"`)
	var writes [][]byte
	for len(conn.written) > 0 {
		writes = append(writes, <-conn.written)
	}
	for _, w := range writes {
		if i := bytes.Index(w, []byte("40/custom,")); i >= 0 && bytes.Contains(w[i:], []byte("auth")) {
			t.Fatalf("the CONNECT answer and the event after it in one write: %q", w)
		}
	}
}
