package socketio

import (
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// BenchmarkBroadcast measures io.Emit to 1000 local websocket sockets: one
// encoding, one engineio.Frame, 1000 queue writes per op. Clients count
// what they receive; the benchmark waits until every client got every
// packet, so the figure includes delivery.
func BenchmarkBroadcast(b *testing.B) {
	const clients = 1000
	io := NewServer(Options{})
	hs := httptest.NewServer(io)
	defer hs.Close()
	defer io.Close()
	u := "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	var received atomic.Int64
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, 0, clients)
	for i := 0; i < clients; i++ {
		ws, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, ws)
		if _, _, err := ws.ReadMessage(); err != nil {
			b.Fatal(err)
		}
		_ = ws.WriteMessage(websocket.TextMessage, []byte("40"))
		if _, m, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(m), "40") {
			b.Fatalf("connect: %q %v", m, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, m, err := ws.ReadMessage()
				if err != nil {
					return
				}
				if len(m) == 1 && m[0] == '2' {
					_ = ws.WriteMessage(websocket.TextMessage, []byte("3"))
					continue
				}
				received.Add(1)
			}
		}()
	}
	payload := map[string]any{"user": "bench", "text": "hello <world>", "n": 42}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if err := io.Emit("chat", payload); err != nil {
			b.Fatal(err)
		}
	}
	queued := time.Since(start)
	want := int64(b.N) * clients
	deadline := time.Now().Add(time.Minute)
	for received.Load() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	if got := received.Load(); got < want {
		b.Fatalf("received %d of %d", got, want)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/delivery")
	b.ReportMetric(float64(queued.Nanoseconds())/float64(b.N), "ns/emit-call")
	for _, ws := range conns {
		ws.Close()
	}
	wg.Wait()
}

// BenchmarkEncodeEvent measures building one EVENT packet's frame.
func BenchmarkEncodeEvent(b *testing.B) {
	payload := map[string]any{"user": "bench", "text": "hello <world>", "n": 42}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p, err := NewEventPacket("/", "chat", payload)
		if err != nil {
			b.Fatal(err)
		}
		_ = p.frames()
	}
}

// BenchmarkDecodeEvent measures decoding one incoming EVENT.
func BenchmarkDecodeEvent(b *testing.B) {
	msg := []byte(`2/chat,12["chat",{"user":"bench","text":"hello <world>","n":42}]`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		d := decoder{maxAttachments: 10}
		if _, err := d.add(msg, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEchoAck measures the round trip the bench kit's websocket echo
// makes: clients in a closed loop each send an event with an ack id, the
// handler acks its arguments back. An op is one round trip, client work
// included (same process).
func BenchmarkEchoAck(b *testing.B) {
	const clients = 50
	io := NewServer(Options{})
	io.OnConnection(func(s *Socket) {
		_ = s.On("message-with-ack", func(args Args, ack AckFunc) {
			if ack != nil {
				_ = ack(args)
			}
		})
	})
	hs := httptest.NewServer(io)
	defer hs.Close()
	defer io.Close()
	u := "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		ws, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer ws.Close()
		conns[i] = ws
		if _, _, err := ws.ReadMessage(); err != nil {
			b.Fatal(err)
		}
		_ = ws.WriteMessage(websocket.TextMessage, []byte("40"))
		if _, m, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(m), "40") {
			b.Fatalf("connect: %q %v", m, err)
		}
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, ws := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := []byte(`421["message-with-ack","0123456789abcdef"]`)
			for next.Add(1) <= int64(b.N) {
				if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
					b.Error(err)
					return
				}
				for {
					_, m, err := ws.ReadMessage()
					if err != nil {
						b.Error(err)
						return
					}
					if string(m) == "2" {
						_ = ws.WriteMessage(websocket.TextMessage, []byte("3"))
						continue
					}
					if string(m) != `431["0123456789abcdef"]` {
						b.Errorf("got %q", m)
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
}
