package engineio

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stickyd/stickyd/internal/testutil"
)

// TestWSBatchAdvance checks the bookkeeping of partial writes.
func TestWSBatchAdvance(t *testing.T) {
	tests := []struct {
		name string
		n    int
		want []string
	}{
		{"nothing", 0, []string{"ab", "cde", "f"}},
		{"inside the first", 1, []string{"b", "cde", "f"}},
		{"the first exactly", 2, []string{"cde", "f"}},
		{"into the second", 4, []string{"e", "f"}},
		{"all but the last", 5, []string{"f"}},
		{"everything", 6, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &wsBatch{iov: [][]byte{[]byte("ab"), []byte("cde"), []byte("f")}}
			b.advance(tt.n)
			var got []string
			for _, p := range b.iov {
				got = append(got, string(p))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if b.pending() != (len(tt.want) > 0) {
				t.Errorf("pending %v with %d buffers left", b.pending(), len(tt.want))
			}
		})
	}
}

// TestWSBatchHeader checks the frame headers byte for byte: FIN, opcode,
// and the shortest length encoding (RFC 6455 §5.2: browsers refuse others),
// then the Engine.IO packet type of a text frame.
func TestWSBatchHeader(t *testing.T) {
	tests := []struct {
		name    string
		frame   *Frame
		wantHdr string
	}{
		{"empty text", NewTextFrame(nil), "8101" + "34"},
		{"124+1 bytes", NewTextFrame(make([]byte, 124)), "817d" + "34"},
		{"125+1 bytes", NewTextFrame(make([]byte, 125)), "817e007e" + "34"},
		{"65534+1 bytes", NewTextFrame(make([]byte, 65534)), "817effff" + "34"},
		{"65535+1 bytes", NewTextFrame(make([]byte, 65535)), "817f0000000000010000" + "34"},
		{"binary 125", NewBinaryFrame(make([]byte, 125)), "827d"},
		{"binary 126", NewBinaryFrame(make([]byte, 126)), "827e007e"},
		{"binary 65536", NewBinaryFrame(make([]byte, 65536)), "827f0000000000010000"},
		{"ping packet", framePing, "810132"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b wsBatch
			b.addFrame(tt.frame)
			got := bytes.Join(b.iov, nil)
			if h := fmt.Sprintf("%x", got[:min(len(got), len(tt.wantHdr)/2)]); h != tt.wantHdr {
				t.Errorf("header %s, want %s", h, tt.wantHdr)
			}
			if want := len(tt.wantHdr)/2 + len(tt.frame.data); len(got) != want {
				t.Errorf("%d bytes in all, want %d", len(got), want)
			}
			if !bytes.Equal(got[len(tt.wantHdr)/2:], tt.frame.data) {
				t.Error("payload differs")
			}
		})
	}
}

// TestWSBatchBuffers checks how the frames of a batch (addFrames) become
// buffers: small frames (payload up to copyMax) coalesce into one
// contiguous buffer, written with one write(2); a larger payload is the
// Frame's own bytes, not a copy; a frame after it starts a new buffer.
func TestWSBatchBuffers(t *testing.T) {
	small := NewTextFrame([]byte("hello"))
	edge := NewBinaryFrame(make([]byte, copyMax))
	big := NewTextFrame(make([]byte, copyMax+1))
	tests := []struct {
		name   string
		frames []*Frame
		want   []int // length of each buffer
		shared []int // indexes of buffers that must be a Frame's own bytes
	}{
		{"one small", []*Frame{small}, []int{2 + 1 + 5}, nil},
		{"small ones coalesce", []*Frame{small, small, framePing, edge}, []int{8 + 8 + 3 + 4 + copyMax}, nil},
		{"big is referenced", []*Frame{big}, []int{4 + 1, copyMax + 1}, []int{1}},
		{"small, big, small", []*Frame{small, big, small}, []int{8 + 4 + 1, copyMax + 1, 8}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b wsBatch
			b.addFrames(tt.frames[:1], tt.frames[1:])
			var want bytes.Buffer
			for _, f := range tt.frames {
				var one wsBatch
				one.addFrame(f)
				want.Write(bytes.Join(one.iov, nil))
			}
			var got []int
			for _, p := range b.iov {
				got = append(got, len(p))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("buffer lengths %v, want %v", got, tt.want)
			}
			for _, i := range tt.shared {
				if &b.iov[i][0] != &big.data[0] {
					t.Errorf("buffer %d is a copy, want the Frame's bytes", i)
				}
			}
			if !bytes.Equal(bytes.Join(b.iov, nil), want.Bytes()) {
				t.Error("the batch's bytes differ from its frames' one by one")
			}
		})
	}
}

// TestWSBatchWriteConn checks writeConn, the write of a connection
// without the raw path (every OS but Linux; TLS): a socket takes the
// buffers as they are, and when its write deadline passes with the peer
// not reading, the batch keeps exactly the bytes not written; a conn
// without an fd (as TLS) gets the batch joined into one Write.
func TestWSBatchWriteConn(t *testing.T) {
	frames := []*Frame{NewTextFrame([]byte("a")), NewBinaryFrame(make([]byte, 2000)), NewTextFrame([]byte("tail"))}
	var ref wsBatch
	ref.addFrames(frames)
	want := bytes.Join(ref.iov, nil)

	t.Run("socket", func(t *testing.T) {
		nc, peer := testutil.TCPPair(t)
		var b wsBatch
		b.addFrames(frames)
		if len(b.iov) != 3 {
			t.Fatalf("%d buffers, want 3", len(b.iov))
		}
		if err := b.writeConn(nc); err != nil {
			t.Fatal(err)
		}
		if b.pending() {
			t.Errorf("%d buffers left after a complete write", len(b.iov))
		}
		got := make([]byte, len(want))
		_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(peer, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Error("the peer read other bytes than the batch's")
		}
	})
	t.Run("socket deadline", func(t *testing.T) {
		nc, peer := testutil.TCPPair(t)
		big := bytes.Repeat([]byte("0123456789abcdef"), 4<<20) // 64 MiB: more than any socket buffer
		var b wsBatch
		for range 4 {
			b.addFrame(NewBinaryFrame(big[:len(big)/4]))
		}
		whole := bytes.Join(b.iov, nil)
		_ = nc.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		if err := b.writeConn(nc); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write to a peer that reads nothing: %v, want the deadline", err)
		}
		rest := bytes.Join(b.iov, nil)
		if len(rest) == 0 || len(rest) == len(whole) {
			t.Fatalf("%d of %d bytes left, want a part", len(rest), len(whole))
		}
		nc.Close()
		_ = peer.SetReadDeadline(time.Now().Add(10 * time.Second))
		written, err := io.ReadAll(peer)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(append(written, rest...), whole) {
			t.Errorf("written %d + left %d bytes are not the batch's %d", len(written), len(rest), len(whole))
		}
	})
	t.Run("no fd", func(t *testing.T) {
		nc, peer := net.Pipe()
		defer nc.Close()
		defer peer.Close()
		var b wsBatch
		b.addFrames(frames)
		done := make(chan error, 1)
		go func() { done <- b.writeConn(nc) }()
		got := make([]byte, 2*len(want))
		_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := peer.Read(got) // one Read gets at most one Write of a pipe
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:n], want) {
			t.Errorf("first read %d bytes, want the whole batch's %d in one Write", n, len(want))
			peer.Close() // ends a writer waiting to write the rest
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if b.pending() {
			t.Error("buffers left after a complete write")
		}
	})
}

// pushServer is a Server whose sessions are handed to the test, behind a
// plain (or TLS) httptest server.
type pushServer struct {
	srv   *Server
	ts    *httptest.Server
	socks chan *Socket
	wsURL string
}

func newPushServer(t *testing.T, opts Options, tlsOn bool) *pushServer {
	t.Helper()
	p := &pushServer{srv: NewServer(opts), socks: make(chan *Socket, 10)}
	p.srv.OnConnection(func(so *Socket) { p.socks <- so })
	p.ts = httptest.NewUnstartedServer(p.srv)
	if tlsOn {
		p.ts.StartTLS()
	} else {
		p.ts.Start()
	}
	t.Cleanup(func() {
		p.srv.Close()
		p.ts.Close()
	})
	p.wsURL = "ws" + strings.TrimPrefix(p.ts.URL, "http") + p.srv.Options().Path + "?EIO=4&transport=websocket"
	return p
}

// dial opens a websocket session and returns the client and the server's
// Socket, with the open packet read.
func (p *pushServer) dial(t *testing.T) (*wsClient, *Socket) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	if p.ts.TLS != nil {
		d.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	c, res, err := d.Dial(p.wsURL, nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, res)
	}
	t.Cleanup(func() { c.Close() })
	ws := &wsClient{t: t, c: c}
	if m := ws.mustRead(); !strings.HasPrefix(m, "0{") {
		t.Fatalf("first message %q, want the open packet", m)
	}
	select {
	case so := <-p.socks:
		return ws, so
	case <-time.After(5 * time.Second):
		t.Fatal("no session")
	}
	return nil, nil
}

// framePayloads are sizes around the websocket length encodings (7-bit,
// 16-bit, 64-bit), counting the packet type byte of text frames.
var framePayloads = []int{0, 1, 124, 125, 126, 1000, 65534, 65535, 65536, 200_000}

// TestWebSocketFrameEncoding sends text and binary frames of every length
// class, written at once and by a writer goroutine (SendDeferred), and
// checks what gorilla's client decodes.
func TestWebSocketFrameEncoding(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		for _, flags := range []SendFlags{0, SendDeferred} {
			t.Run(fmt.Sprintf("tls=%v/flags=%d", tlsOn, flags), func(t *testing.T) {
				p := newPushServer(t, Options{PingInterval: time.Hour}, tlsOn)
				ws, so := p.dial(t)
				for _, n := range framePayloads {
					text := strings.Repeat("t", n)
					bin := bytes.Repeat([]byte{0xb1}, n)
					if _, err := so.Send([]*Frame{NewTextFrame([]byte(text)), NewBinaryFrame(bin)}, flags); err != nil {
						t.Fatal(err)
					}
					if got, want := ws.mustRead(), "4"+text; got != want {
						t.Fatalf("text frame of %d bytes: got %d bytes %.20q..., want %d", n, len(got), got, len(want))
					}
					if got, want := ws.mustRead(), fmt.Sprintf("b:%x", bin); got != want {
						t.Fatalf("binary frame of %d bytes: got %d hex chars, want %d", n, len(got), len(want))
					}
				}
			})
		}
	}
}

// TestWebSocketSlowReaderGetsEverything fills the socket while the client
// does not read: Send never blocks, and once the client reads, every frame
// arrives whole and in order (the writer goroutine finished the partial
// writes).
func TestWebSocketSlowReaderGetsEverything(t *testing.T) {
	const frames, size = 200, 64 << 10 // 12.8 MB: far more than socket buffers
	p := newPushServer(t, Options{PingInterval: time.Hour, MaxBufferedBytes: 64 << 20}, false)
	ws, so := p.dial(t)
	sent := make(chan error, 1)
	go func() {
		for i := range frames {
			body := fmt.Sprintf("%06d", i) + strings.Repeat("x", size)
			flags := SendFlags(0)
			if i%2 == 1 {
				flags = SendDeferred
			}
			if _, err := so.Send([]*Frame{NewTextFrame([]byte(body))}, flags); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send blocked while the client was not reading")
	}
	for i := range frames {
		m := ws.mustRead()
		if want := "4" + fmt.Sprintf("%06d", i); !strings.HasPrefix(m, want) || len(m) != 1+6+size {
			t.Fatalf("frame %d: got %d bytes starting %.10q, want %d starting %q", i, len(m), m, 1+6+size, want)
		}
	}
}

// TestWebSocketPingGetsPong: a websocket ping from the client is answered
// with a pong carrying its payload, through the transport's own writer,
// ahead of what the server writes after reading the ping.
func TestWebSocketPingGetsPong(t *testing.T) {
	p := newPushServer(t, Options{PingInterval: time.Hour}, false)
	ws, so := p.dial(t)
	so.OnMessage(func([]byte, bool) { _ = so.Write(NewTextFrame([]byte("after"))) })
	pongs := make(chan string, 1)
	ws.c.SetPongHandler(func(data string) error { pongs <- data; return nil })
	if err := ws.c.WriteControl(websocket.PingMessage, []byte("hello"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	ws.send("4sync")
	if got := ws.mustRead(); got != "4after" { // the pong is handled while reading
		t.Fatalf("got %q, want 4after", got)
	}
	select {
	case got := <-pongs:
		if got != "hello" {
			t.Errorf("pong %q, want hello", got)
		}
	default:
		t.Error("no pong before the next message")
	}
}

// TestWebSocketCloseFrames: a close from the client is echoed with its
// code and closes the session with "transport close"; Socket.Close sends an
// empty close frame (as Node's ws close()) after the queued frames.
func TestWebSocketCloseFrames(t *testing.T) {
	t.Run("client closes", func(t *testing.T) {
		p := newPushServer(t, Options{PingInterval: time.Hour}, false)
		ws, so := p.dial(t)
		closed := make(chan string, 1)
		so.OnClose(func(reason string, _ error) { closed <- reason })
		msg := websocket.FormatCloseMessage(4001, "bye")
		if err := ws.c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		_, err := ws.read()
		if !websocket.IsCloseError(err, 4001) {
			t.Errorf("read %v, want the close 4001 echoed", err)
		}
		select {
		case r := <-closed:
			if r != ReasonTransportClose {
				t.Errorf("reason %q, want %q", r, ReasonTransportClose)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("session not closed")
		}
	})
	t.Run("server closes", func(t *testing.T) {
		p := newPushServer(t, Options{PingInterval: time.Hour}, false)
		ws, so := p.dial(t)
		_ = so.Write(NewTextFrame([]byte("last")))
		so.Close()
		if got := ws.mustRead(); got != "4last" {
			t.Fatalf("got %q, want the queued frame first", got)
		}
		if _, err := ws.read(); !websocket.IsCloseError(err, websocket.CloseNoStatusReceived) {
			t.Errorf("read %v, want an empty close frame", err)
		}
	})
}

// TestWebSocketConcurrentWriters: frames from many goroutines, written at
// once and deferred, all arrive, each goroutine's in its order.
func TestWebSocketConcurrentWriters(t *testing.T) {
	const writers, each = 8, 500
	p := newPushServer(t, Options{PingInterval: time.Hour}, false)
	ws, so := p.dial(t)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				flags := SendFlags(0)
				if (w+i)%3 == 0 {
					flags = SendDeferred
				}
				_, _ = so.Send([]*Frame{NewTextFrame(fmt.Appendf(nil, "%d:%d", w, i))}, flags)
			}
		}()
	}
	next := make([]int, writers)
	for range writers * each {
		var w, i int
		m := ws.mustRead()
		if _, err := fmt.Sscanf(m, "4%d:%d", &w, &i); err != nil {
			t.Fatalf("frame %q: %v", m, err)
		}
		if i != next[w] {
			t.Fatalf("writer %d: got frame %d, want %d", w, i, next[w])
		}
		next[w]++
	}
	wg.Wait()
}
