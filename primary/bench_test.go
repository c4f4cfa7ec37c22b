package primary

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"
)

// benchClient opens a connection, sends one GET, reads the response and
// closes, per iteration.
func benchClient(b *testing.B, addr string) {
	b.ReportAllocs()
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

// BenchmarkHandoff: a connection accepted by the primary, peeked, routed,
// its fd sent to a worker process that wraps it (net.FileConn) and serves
// one HTTP request.
func BenchmarkHandoff(b *testing.B) {
	h := startSupervisor(b, "ok", Options{Workers: 1}, 1)
	benchClient(b, h.addr)
}

// BenchmarkDirectAccept: the same request served by an http.Server that
// accepts the connection itself, for comparison with BenchmarkHandoff.
func BenchmarkDirectAccept(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "instance=%d", 1)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	benchClient(b, ln.Addr().String())
}
