package primary

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
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

// benchStandalone runs benchClient against the same "listener" fake
// worker as benchHandoff, started without a primary: the worker package's
// standalone mode, where the app's process accepts on its own TCP
// listener. Client and server sit in two processes in both benchmarks, so
// the two differ only by the hand-off path.
func benchStandalone(b *testing.B, parallelism int) {
	addr := startStandaloneWorker(b)
	benchClient(b, addr, parallelism)
}

// standaloneAddrRE finds the address in the fake worker's "listening" line.
var standaloneAddrRE = regexp.MustCompile(`addr=(\S+)`)

// startStandaloneWorker re-executes the test binary as the "listener" fake
// worker with no STICKYD_* variable but the mode, PORT=0 and
// HOST=127.0.0.1, reads the address it listens on from its stderr, and kills
// it when tb ends.
func startStandaloneWorker(tb testing.TB) string {
	tb.Helper()
	env := []string{fakeWorkerEnv + "=listener", "PORT=0", "HOST=127.0.0.1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STICKYD_") && !strings.HasPrefix(kv, "PORT=") && !strings.HasPrefix(kv, "HOST=") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := standaloneAddrRE.FindStringSubmatch(sc.Text()); m != nil && strings.Contains(sc.Text(), "listening") {
				found <- m[1]
				break
			}
		}
		for sc.Scan() { // keep draining so the worker never blocks on stderr
		}
	}()
	select {
	case addr := <-found:
		return addr
	case <-time.After(10 * time.Second):
		tb.Fatal("standalone worker did not log its address within 10 s")
		return ""
	}
}

// benchDirect runs benchClient against an http.Server in the benchmark's
// own process that accepts the connections itself and answers what the
// "listener" worker answers (client and server share one Go runtime).
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

// BenchmarkDirectAccept: the same request served by the same worker
// program run standalone, accepting the connection itself in its own
// process: the comparison for BenchmarkHandoff (the ratio of the two is
// what the hand-off path costs).
func BenchmarkDirectAccept(b *testing.B) { benchStandalone(b, 1) }

// BenchmarkDirectAcceptParallel is BenchmarkDirectAccept with the clients
// of BenchmarkHandoffParallel.
func BenchmarkDirectAcceptParallel(b *testing.B) { benchStandalone(b, benchParallelism) }

// BenchmarkDirectAcceptInProcess: the request served by an http.Server in
// the benchmark's own process (no second process, no fd passing): a lower
// bound that also leaves out what a process boundary costs.
func BenchmarkDirectAcceptInProcess(b *testing.B) { benchDirect(b, 1) }

// BenchmarkDirectAcceptInProcessParallel is BenchmarkDirectAcceptInProcess
// with the clients of BenchmarkHandoffParallel.
func BenchmarkDirectAcceptInProcessParallel(b *testing.B) { benchDirect(b, benchParallelism) }

// benchKeepAlive sends b.N requests over one kept-alive connection per
// client goroutine (2 × GOMAXPROCS of them) to a "listener" worker behind
// the primary, plain or, with cert, over TLS (the relay's cost per
// request; the handshake is paid once per client).
func benchKeepAlive(b *testing.B, cert *testutil.TestCert) {
	opts := Options{Workers: 1}
	if cert != nil {
		opts.TLS = cert.ServerConfig()
	}
	h := startSupervisor(b, "listener", opts, 1)
	b.ReportAllocs()
	b.SetParallelism(2)
	b.RunParallel(func(pb *testing.PB) {
		var c net.Conn
		var err error
		if cert != nil {
			c, err = tls.Dial("tcp", h.addr, cert.ClientConfig())
		} else {
			c, err = net.Dial("tcp", h.addr)
		}
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for pb.Next() {
			if resp, _, err := roundTrip(c, br, "/"); err != nil || resp.StatusCode != 200 {
				b.Errorf("%v %v", resp, err)
				return
			}
		}
	})
}

// BenchmarkKeepAlive: requests on kept-alive plain connections (after the
// hand-off, client and worker talk directly).
func BenchmarkKeepAlive(b *testing.B) { benchKeepAlive(b, nil) }

// BenchmarkKeepAliveTLS: the same over TLS, every byte relayed by the
// primary.
func BenchmarkKeepAliveTLS(b *testing.B) { benchKeepAlive(b, testutil.NewTestCert(b)) }
