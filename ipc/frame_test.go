package ipc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/rawsys"
	"github.com/stickyd/stickyd/internal/testutil"
)

// listenHubOnce listens for hub links in a temporary directory and accepts
// one in the background: the path to dial, and the channel the accepted
// conn comes on (nil after a failed Accept, which fails the test). A
// cleanup of t closes the listener.
func listenHubOnce(t testing.TB) (path string, accepted <-chan net.Conn) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "hub.sock")
	l, err := ListenHub(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		ch <- c
	}()
	return path, ch
}

// hubPair returns both ends of a real hub link.
func hubPair(t testing.TB, maxFrame int) (client *FrameConn, server net.Conn) {
	t.Helper()
	path, accepted := listenHubOnce(t)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	client = NewFrameConn(c, maxFrame)
	server = <-accepted
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestFrameRoundTrip(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	path, ch := listenHubOnce(t)
	a, err := DialHub(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := NewFrameConn(<-ch, 0)
	defer b.Close()

	frames := []struct {
		typ     byte
		payload []byte
	}{
		{1, nil},
		{2, []byte("hello")},
		{255, bytes.Repeat([]byte{7}, 100000)},
		{3, bytes.Repeat([]byte{9}, MaxHubFrame-1)},
		{4, []byte("after big")},
	}
	go func() {
		for _, f := range frames {
			if err := a.WriteFrame(f.typ, f.payload); err != nil {
				t.Error(err)
			}
		}
	}()
	for _, want := range frames {
		typ, payload, err := b.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if typ != want.typ || !bytes.Equal(payload, want.payload) {
			t.Fatalf("got type %d len %d, want type %d len %d", typ, len(payload), want.typ, len(want.payload))
		}
	}
	a.Close()
	if _, _, err := b.ReadFrame(); err != io.EOF {
		t.Fatalf("after peer close: got %v, want io.EOF", err)
	}
}

func TestHelloFrame(t *testing.T) {
	p := AppendHelloFrame(nil, 5, secret(2), 77)
	m, err := ParseHelloFrame(FrameHello, p)
	if err != nil || m.Instance != 5 || m.Secret != secret(2) || m.PID != 77 {
		t.Fatalf("got %+v, %v", m, err)
	}
	if _, err := ParseHelloFrame(2, p); !errors.Is(err, ErrMalformed) {
		t.Fatalf("wrong type: got %v, want ErrMalformed", err)
	}
	if _, err := ParseHelloFrame(FrameHello, p[:39]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short: got %v, want ErrMalformed", err)
	}
}

func rawFrame(n uint32, rest ...byte) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, n), rest...)
}

func TestReadFrameErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"oversize", rawFrame(1001, 1), 1000, ErrFrameTooLarge},
		{"oversize hub limit", rawFrame(MaxHubFrame+1, 1), 0, ErrFrameTooLarge},
		{"length ffffffff", rawFrame(0xffffffff), 0, ErrFrameTooLarge},
		{"zero length", rawFrame(0), 0, ErrMalformed},
		{"header cut", []byte{5, 0}, 0, io.ErrUnexpectedEOF},
		{"payload cut", rawFrame(5, 1, 2), 0, io.ErrUnexpectedEOF},
		{"empty", nil, 0, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.CheckNoLeaks(t, leakWait)
			fc, srv := hubPair(t, tt.max)
			go func() { srv.Write(tt.in); srv.Close() }()
			_, _, err := fc.ReadFrame()
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if _, _, err2 := fc.ReadFrame(); !errors.Is(err2, tt.want) {
				t.Fatalf("second read: got %v, want sticky %v", err2, tt.want)
			}
		})
	}
}

func TestWriteFrameErrors(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	fc, _ := hubPair(t, 1000)
	if err := fc.WriteFrame(1, make([]byte, 1000)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversize: got %v, want ErrFrameTooLarge", err)
	}
	if err := fc.WriteFrame(1, make([]byte, 999)); err != nil {
		t.Fatalf("at limit: %v", err)
	}
	fc.Close()
	if err := fc.WriteFrame(1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: got %v, want ErrClosed", err)
	}
	if _, _, err := fc.ReadFrame(); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after Close: got %v, want ErrClosed", err)
	}
	if err := fc.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestWriteFramePeerGone(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	fc, srv := hubPair(t, 0)
	srv.Close()
	payload := make([]byte, 1<<20)
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if err := fc.WriteFrame(1, payload); err == nil {
			return errors.New("write still succeeds")
		} else if errors.Is(err, ErrClosed) {
			return fmt.Errorf("got ErrClosed, want the write error")
		}
		return nil
	})
	if err := fc.Flush(); err == nil {
		t.Fatal("Flush after write failure returned nil")
	}
}

// gateConn counts Write calls and blocks the first until gate is closed.
type gateConn struct {
	net.Conn
	gate   chan struct{}
	writes atomic.Int32
}

func (g *gateConn) Write(b []byte) (int, error) {
	if g.writes.Add(1) == 1 {
		<-g.gate
	}
	return g.Conn.Write(b)
}

// TestFrameBatching checks that frames queued while a write is in flight go
// out in one write call.
func TestFrameBatching(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	path, ch := listenHubOnce(t)
	raw, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	g := &gateConn{Conn: raw, gate: make(chan struct{})}
	w := NewFrameConn(g, 0)
	defer w.Close()
	r := NewFrameConn(<-ch, 0)
	defer r.Close()

	const n = 1000
	if err := w.WriteFrame(0, []byte("first")); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 2*time.Second, time.Millisecond, func() error {
		if g.writes.Load() == 0 {
			return errors.New("writer has not started")
		}
		return nil
	})
	for i := 1; i < n; i++ {
		if err := w.WriteFrame(byte(i), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	close(g.gate)
	for i := 0; i < n; i++ {
		typ, p, err := r.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprint(i)
		if i == 0 {
			want = "first"
		}
		if typ != byte(i) || string(p) != want {
			t.Fatalf("frame %d: got %d %q", i, typ, p)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := g.writes.Load(); got != 2 {
		t.Fatalf("%d write calls for %d frames, want 2", got, n)
	}
}

// TestFrameQueueBound checks that TryWriteFrame reports a full queue and
// WriteFrame blocks until the writer drains it.
func TestFrameQueueBound(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	fc, srv := hubPair(t, 0)
	chunk := make([]byte, 1<<20)
	fill := func() {
		t.Helper()
		for range 64 {
			switch err := fc.TryWriteFrame(1, chunk); {
			case errors.Is(err, ErrQueueFull):
				return
			case err != nil:
				t.Fatal(err)
			}
		}
		t.Fatal("queue never reported full with a peer that does not read")
	}
	// Fill, wait until the writer holds a batch (it blocks on it: a batch
	// is larger than the socket's buffers), then fill again: only now is
	// the queue surely full behind a writer that cannot take it.
	fill()
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		fc.mu.Lock()
		defer fc.mu.Unlock()
		if fc.queued-fc.written <= uint64(len(fc.pending)) {
			return errors.New("the writer has not taken a batch")
		}
		return nil
	})
	fill()
	blocked := make(chan error, 1)
	go func() { blocked <- fc.WriteFrame(2, chunk) }()
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		select {
		case err := <-blocked:
			t.Fatalf("WriteFrame returned %v with a full queue", err)
		default:
		}
		if !testutil.GoroutineIn("(*FrameConn).enqueue", "sync.(*Cond).Wait") {
			return errors.New("WriteFrame is not waiting for space yet")
		}
		return nil
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); io.Copy(io.Discard, srv) }()
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	if err := fc.Flush(); err != nil {
		t.Fatal(err)
	}
	fc.Close()
	wg.Wait()
}

func TestCloseUnblocksWriters(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	fc, _ := hubPair(t, 0)
	chunk := make([]byte, 1<<20)
	for fc.TryWriteFrame(1, chunk) == nil {
	}
	errc := make(chan error, 2)
	go func() { errc <- fc.WriteFrame(1, chunk) }()
	go func() { errc <- fc.Flush() }()
	fc.Close()
	for i := 0; i < 2; i++ {
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("got %v, want ErrClosed", err)
		}
	}
}

// FuzzReadFrame feeds arbitrary bytes to the frame reader: it must not panic,
// every frame it returns must re-encode to the bytes it consumed, and it must
// end with one of its documented errors.
func FuzzReadFrame(f *testing.F) {
	f.Add(rawFrame(1, 7))
	f.Add(append(rawFrame(6, 1, 'h', 'e', 'l', 'l', 'o'), rawFrame(1, 2)...))
	f.Add(rawFrame(0))
	f.Add(rawFrame(0xffffffff))
	f.Add([]byte{1, 0, 0})
	f.Add(rawFrame(3, 1))
	f.Fuzz(func(t *testing.T, in []byte) {
		fr := frameReader{r: newBufReader(bytes.NewReader(in)), max: 1 << 16}
		var out []byte
		for {
			typ, p, err := fr.next()
			if err != nil {
				switch {
				case err == io.EOF:
					if !bytes.Equal(out, in) {
						t.Fatalf("clean EOF after % x, input % x", out, in)
					}
				case err == io.ErrUnexpectedEOF, errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrMalformed):
					if !bytes.HasPrefix(in, out) {
						t.Fatal("frames do not match input")
					}
				default:
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			out = binary.LittleEndian.AppendUint32(out, uint32(1+len(p)))
			out = append(out, typ)
			out = append(out, p...)
		}
	})
}

// BenchmarkFrameRelay measures 64-byte frames through a FrameConn pair over
// a real Unix socket (writer goroutine batching, reader parsing).
func BenchmarkFrameRelay(b *testing.B) {
	w, srv := hubPair(b, 0)
	r := NewFrameConn(srv, 0)
	defer r.Close()
	payload := make([]byte, 63)
	done := make(chan error, 1)
	n := b.N
	b.SetBytes(68)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for i := 0; i < n; i++ {
			if _, _, err := r.ReadFrame(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := 0; i < n; i++ {
		if err := w.WriteFrame(1, payload); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// TestFrameConnRawPath: a FrameConn on a real (non-blocking) Unix socket
// reads and writes it with raw calls; one on a net.Conn without a socket
// (net.Pipe) or hiding it (gateConn) goes through the net.Conn.
func TestFrameConnRawPath(t *testing.T) {
	client, _ := hubPair(t, 0)
	if _, ok := client.rw.(*rawsys.Stream); !ok {
		t.Errorf("hub link on a Unix socket: rw is %T, want *rawsys.Stream", client.rw)
	}
	a, b := net.Pipe()
	defer b.Close()
	pc := NewFrameConn(a, 0)
	defer pc.Close()
	if pc.rw != net.Conn(a) {
		t.Errorf("on net.Pipe: rw is %T, want the conn itself", pc.rw)
	}
	c, _ := net.Pipe()
	g := &gateConn{Conn: c, gate: make(chan struct{})}
	close(g.gate)
	gc := NewFrameConn(g, 0)
	defer gc.Close()
	if gc.rw != net.Conn(g) {
		t.Errorf("on a wrapper: rw is %T, want the wrapper", gc.rw)
	}
}

// TestQueueFramePush: QueueFrame does not wake the writer, Push writes the
// queued frames on the calling goroutine (all of them written when it
// returns, the writer never woken), in order.
func TestQueueFramePush(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	fc, srv := hubPair(t, 0)
	r := NewFrameConn(srv, 0)
	defer r.Close()
	for i := range 3 {
		if err := fc.QueueFrame(byte(i), []byte(fmt.Sprint("frame ", i))); err != nil {
			t.Fatal(err)
		}
	}
	fc.mu.Lock()
	woken, written := len(fc.wake), fc.written
	fc.mu.Unlock()
	if woken != 0 || written != 0 {
		t.Fatalf("after QueueFrame: writer woken %d, %d bytes written; want neither", woken, written)
	}
	fc.Push()
	fc.mu.Lock()
	woken, written, queued := len(fc.wake), fc.written, fc.queued
	fc.mu.Unlock()
	if woken != 0 || written != queued {
		t.Fatalf("after Push: writer woken %d, %d of %d bytes written; want the writer not woken, all written", woken, written, queued)
	}
	for i := range 3 {
		typ, p, err := r.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprint("frame ", i); typ != byte(i) || string(p) != want {
			t.Fatalf("frame %d: got %d %q, want %d %q", i, typ, p, i, want)
		}
	}
	// Flush writes what QueueFrame left without a Push.
	if err := fc.QueueFrame(9, []byte("last")); err != nil {
		t.Fatal(err)
	}
	if err := fc.Flush(); err != nil {
		t.Fatal(err)
	}
	if typ, p, err := r.ReadFrame(); err != nil || typ != 9 || string(p) != "last" {
		t.Fatalf("after Flush: got %d %q %v", typ, p, err)
	}
}

// TestPushShortWriteKeepsOrder: what a full socket does not take from
// Push goes to the writer ahead of frames queued meanwhile, and frames
// queued or pushed while a write is in flight follow in order.
func TestPushShortWriteKeepsOrder(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	fc, srv := hubPair(t, 0)
	big := bytes.Repeat([]byte("b"), 1<<20) // more than the socket holds
	if err := fc.QueueFrame(1, big); err != nil {
		t.Fatal(err)
	}
	fc.Push()
	fc.mu.Lock()
	written, queued := fc.written, fc.queued
	fc.mu.Unlock()
	if written == 0 || written >= queued {
		t.Fatalf("Push to a socket nobody reads wrote %d of %d bytes; want a short write", written, queued)
	}
	// The writer now holds the rest: these queue behind it.
	const n = 200
	for i := 2; i < n; i++ {
		var err error
		switch i % 3 {
		case 0:
			err = fc.QueueFrame(byte(i), []byte(fmt.Sprint(i)))
			fc.Push()
		case 1:
			err = fc.TryWriteFrame(byte(i), []byte(fmt.Sprint(i)))
		default:
			err = fc.QueueFrame(byte(i), []byte(fmt.Sprint(i)))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	fc.Push()
	r := NewFrameConn(srv, 0)
	defer r.Close()
	typ, p, err := r.ReadFrame()
	if err != nil || typ != 1 || !bytes.Equal(p, big) {
		t.Fatalf("first frame: type %d, %d bytes, %v; want the 1 MiB frame", typ, len(p), err)
	}
	for i := 2; i < n; i++ {
		typ, p, err := r.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if typ != byte(i) || string(p) != fmt.Sprint(i) {
			t.Fatalf("frame %d: got %d %q", i, typ, p)
		}
	}
	if err := fc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestPushConcurrentWriters: goroutines mixing QueueFrame+Push with
// WriteFrame on one FrameConn; each one's frames arrive in its order. The
// frames are large enough to fill the socket, so that Push writes short
// while other frames are queued.
func TestPushConcurrentWriters(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	fc, srv := hubPair(t, 0)
	r := NewFrameConn(srv, 0)
	defer r.Close()
	const writers, n = 4, 2000
	errc := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range n {
				p := binary.LittleEndian.AppendUint32(make([]byte, 0, 4<<10), uint32(i))
				p = p[:cap(p)]
				var err error
				if i%2 == 0 {
					err = fc.WriteFrame(byte(w), p)
				} else if err = fc.QueueFrame(byte(w), p); err == nil {
					fc.Push()
				} else if errors.Is(err, ErrQueueFull) {
					err = fc.WriteFrame(byte(w), p)
				}
				if err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	next := make([]uint32, writers)
	for range writers * n {
		typ, p, err := r.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if int(typ) >= writers || len(p) != 4<<10 || binary.LittleEndian.Uint32(p) != next[typ] {
			t.Fatalf("writer %d: got %x, want frame %d", typ, p[:min(len(p), 4)], next[typ])
		}
		next[typ]++
	}
	for range writers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}
