package engineio

import (
	"fmt"
	"io"
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
