package primary

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"
)

// benchParallelism is the b.SetParallelism of the throughput variants:
// 16 × GOMAXPROCS concurrent clients, so that the primary, the worker and
// the clients all have work queued instead of waiting on each other.
const benchParallelism = 16

// benchClient opens a connection, sends one GET, reads the response and
// closes, per iteration, from parallelism × GOMAXPROCS goroutines.
func benchClient(b *testing.B, addr string, parallelism int) {
	b.ReportAllocs()
	b.SetParallelism(parallelism)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			br := bufio.NewReader(c)
			resp, _, err := roundTrip(c, br, "/")
			c.Close()
			if err != nil || resp.StatusCode != 200 {
				b.Errorf("%v %v", resp, err)
				return
			}
		}
	})
}

// benchHandoff runs benchClient against a primary with one worker process
// built on the worker package (fake worker mode "listener": worker.Serve,
// an http.Server on worker.Listener), so the figure includes what a real
// worker pays to take a handed-off fd.
func benchHandoff(b *testing.B, parallelism int) {
	h := startSupervisor(b, "listener", Options{Workers: 1}, 1)
	benchClient(b, h.addr, parallelism)
}

// benchDirect runs benchClient against an http.Server that accepts the
// connections itself and answers what the "listener" worker answers.
func benchDirect(b *testing.B, parallelism int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "instance=%d", 1)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	benchClient(b, ln.Addr().String(), parallelism)
}

// BenchmarkHandoff: a connection accepted by the primary, peeked, routed,
// its fd sent to a worker process that takes it (worker.Listener) and
// serves one HTTP request; GOMAXPROCS clients at a time (the latency of
// the three-process chain).
func BenchmarkHandoff(b *testing.B) { benchHandoff(b, 1) }

// BenchmarkHandoffParallel is BenchmarkHandoff with benchParallelism ×
// GOMAXPROCS clients at a time (throughput).
func BenchmarkHandoffParallel(b *testing.B) { benchHandoff(b, benchParallelism) }

// BenchmarkDirectAccept: the same request served by an http.Server that
// accepts the connection itself, for comparison with BenchmarkHandoff.
func BenchmarkDirectAccept(b *testing.B) { benchDirect(b, 1) }

// BenchmarkDirectAcceptParallel is BenchmarkDirectAccept with the clients
// of BenchmarkHandoffParallel.
func BenchmarkDirectAcceptParallel(b *testing.B) { benchDirect(b, benchParallelism) }
