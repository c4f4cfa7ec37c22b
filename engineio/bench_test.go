package engineio

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stickyd/stickyd/internal/testutil"
)

// rawWSDial opens a websocket session with a bare net.Conn (no client
// goroutine, no client buffers) and reads the open packet, so that what is
// measured afterwards is the server's cost.
func rawWSDial(tb testing.TB, addr, path string) net.Conn {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	fmt.Fprintf(conn, "GET %s?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path)
	br := bufio.NewReaderSize(conn, 512)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			tb.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	// open packet: 2-byte header (payload < 126) + payload
	hdr := make([]byte, 2)
	if _, err := br.Read(hdr[:1]); err != nil {
		tb.Fatal(err)
	}
	if _, err := br.Read(hdr[1:]); err != nil {
		tb.Fatal(err)
	}
	payload := make([]byte, hdr[1]&0x7f)
	for n := 0; n < len(payload); {
		m, err := br.Read(payload[n:])
		if err != nil {
			tb.Fatal(err)
		}
		n += m
	}
	if payload[0] != '0' {
		tb.Fatalf("open packet %q", payload)
	}
	return conn
}

// idleCost opens n idle websocket sessions and returns heap+stack bytes and
// goroutines per session.
func idleCost(tb testing.TB, n int) (bytesPer, goroutinesPer float64) {
	srv := NewServer(Options{PingInterval: time.Hour, PingTimeout: time.Hour})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()
	addr := ts.Listener.Addr().String()
	// warm up pools and the accept loop
	warm := rawWSDial(tb, addr, srv.Options().Path)
	defer warm.Close()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = rawWSDial(tb, addr, srv.Options().Path)
	}
	// writers exit once the open packet went out
	testutil.CheckFor(tb, 10*time.Second, time.Millisecond, func() error {
		if g := runtime.NumGoroutine() - g0; g > n {
			return fmt.Errorf("%d goroutines for %d sessions", g, n)
		}
		return nil
	})
	runtime.GC()
	runtime.ReadMemStats(&after)
	g1 := runtime.NumGoroutine()
	for _, c := range conns {
		c.Close()
	}
	used := (after.HeapInuse + after.StackInuse) - (before.HeapInuse + before.StackInuse)
	if testing.Verbose() {
		tb.Logf("heap %d B/session, stack %d B/session", (after.HeapInuse-before.HeapInuse)/uint64(n), (after.StackInuse-before.StackInuse)/uint64(n))
	}
	return float64(used) / float64(n), float64(g1-g0) / float64(n)
}

// TestIdleSessionCost checks the goroutine budget: one per idle websocket
// session (its reader), none per idle polling session; it logs bytes.
func TestIdleSessionCost(t *testing.T) {
	bytesPer, gPer := idleCost(t, 200)
	t.Logf("idle websocket session: %.0f bytes, %.2f goroutines", bytesPer, gPer)
	if gPer > 1.0 {
		t.Errorf("%.2f goroutines per idle websocket session, want <= 1", gPer)
	}

	srv := newTestServer(t, Options{PingInterval: time.Hour, PingTimeout: time.Hour})
	g0 := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		newPollClient(t, srv.url).handshake()
	}
	// Drop the clients' idle keep-alive connections (and their net/http
	// goroutines); the sessions must remain without any goroutine.
	srv.ts.CloseClientConnections()
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if g := runtime.NumGoroutine() - g0; g > 0 {
			return fmt.Errorf("%d goroutines for 50 idle polling sessions", g)
		}
		return nil
	})
	if n := srv.ClientsCount(); n != 50 {
		t.Errorf("ClientsCount %d, want 50", n)
	}
}

// BenchmarkIdleWebSocket reports the server's memory and goroutines per idle
// websocket session.
func BenchmarkIdleWebSocket(b *testing.B) {
	var bytesPer, gPer float64
	for i := 0; i < b.N; i++ {
		bytesPer, gPer = idleCost(b, 1000)
	}
	b.ReportMetric(bytesPer, "bytes/session")
	b.ReportMetric(gPer, "goroutines/session")
}

// BenchmarkFrameFanout broadcasts one 100-byte text message to 1000
// websocket sessions per op and waits until every client received it.
// It writes as a broadcast does (SendDeferred). "shared" writes one Frame
// to all (encoded once); "per-socket" builds a new Frame for every socket,
// as encoding each packet anew does.
func BenchmarkFrameFanout(b *testing.B) {
	const sockets = 1000
	srv := NewServer(Options{PingInterval: time.Hour, PingTimeout: time.Hour})
	var mu sync.Mutex
	var socks []*Socket
	srv.OnConnection(func(so *Socket) {
		mu.Lock()
		socks = append(socks, so)
		mu.Unlock()
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + srv.Options().Path + "?EIO=4&transport=websocket"
	var received atomic.Int64
	var clients []*websocket.Conn
	for i := 0; i < sockets; i++ {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
		go func() {
			for {
				if _, _, err := c.NextReader(); err != nil {
					return
				}
				received.Add(1)
			}
		}()
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	testutil.CheckFor(b, 10*time.Second, time.Millisecond, func() error {
		if received.Load() < sockets {
			return fmt.Errorf("%d open packets", received.Load())
		}
		return nil
	})
	msg := []byte(strings.Repeat("x", 100))
	run := func(b *testing.B, frameFor func() func() *Frame) {
		start := received.Load()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			next := frameFor()
			for _, so := range socks {
				if _, err := so.Send([]*Frame{next()}, SendDeferred); err != nil {
					b.Fatal(err)
				}
			}
		}
		want := start + int64(b.N)*sockets
		for received.Load() < want {
			runtime.Gosched()
		}
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/sockets, "ns/socket")
	}
	b.Run("shared", func(b *testing.B) {
		run(b, func() func() *Frame {
			f := NewTextFrame(msg)
			return func() *Frame { return f }
		})
	})
	b.Run("per-socket", func(b *testing.B) {
		run(b, func() func() *Frame {
			return func() *Frame { return NewTextFrame(msg) }
		})
	})
}

// BenchmarkWSBatchWrite writes batches to a loopback TCP connection the
// way a transport does: one try at once, the rest blocking (tryWrite, then
// writeAll). "small" is 8 frames of 100 bytes (one coalesced buffer),
// "mixed" alternates them with 4 KiB frames (referenced buffers: a
// writev). A reader goroutine drains the other end.
func BenchmarkWSBatchWrite(b *testing.B) {
	nc, peer := testutil.TCPPair(b)
	go func() { _, _ = io.Copy(io.Discard, peer) }()
	rc := rawConnOf(nc)
	small := NewTextFrame([]byte(strings.Repeat("s", 100)))
	large := NewBinaryFrame(make([]byte, 4<<10))
	for _, bc := range []struct {
		name   string
		frames []*Frame
	}{
		{"small", slices.Repeat([]*Frame{small}, 8)},
		{"mixed", slices.Repeat([]*Frame{small, large}, 4)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var batch wsBatch
			b.ReportAllocs()
			for range b.N {
				batch.addFrames(bc.frames)
				err := batch.tryWrite(rc)
				if err == errWouldBlock {
					err = batch.writeAll(nc, rc)
				}
				if err != nil {
					b.Fatal(err)
				}
				batch.reset()
			}
		})
	}
}
