package primary

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"

	"github.com/stickyd/stickyd/internal/testutil"
)

// readValue reads the value of a counter or gauge directly (no scrape).
func readValue(t testing.TB, c prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		t.Fatal(err)
	}
	if g := d.GetGauge(); g != nil {
		return g.GetValue()
	}
	return d.GetCounter().GetValue()
}

// pathCounts returns the connections counted on the fast and the slow path.
func pathCounts(t testing.TB, m *Metrics) (fast, slow float64) {
	return readValue(t, m.paths[1]), readValue(t, m.paths[0])
}

// TestFastPath: the public listener has TCP_DEFER_ACCEPT, so a client that
// sends its request in one write is accepted with its request line there
// and every such connection, balanced or routed by sid, is handed off on
// the accept loop (the fast path), none on a goroutine.
func TestFastPath(t *testing.T) {
	m := NewMetrics()
	h := startSupervisor(t, "ok", Options{Workers: 2, Metrics: m}, 2)
	rc, err := h.ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var secs int
	var gerr error
	rc.Control(func(fd uintptr) { secs, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT) })
	if gerr != nil || secs <= 0 {
		t.Fatalf("listener TCP_DEFER_ACCEPT = %d, %v; want it set", secs, gerr)
	}
	sids := sidsByInstance(t, h, 2)
	const n = 40
	for i := 0; i < n; i++ {
		if resp, _, err := h.get("/"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /: %v %v", resp, err)
		}
	}
	for id, sid := range sids {
		for i := 0; i < n/2; i++ {
			if _, body, err := h.get("/who?sid=" + sid); err != nil || body != fmt.Sprintf("instance=%d", id) {
				t.Fatalf("sid of %d: %q %v", id, body, err)
			}
		}
	}
	// A worker may answer before the primary has counted its hand-off.
	accepted := readValue(t, m.accepts)
	testutil.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		balanced, bySID := readValue(t, m.decisions[DecisionBalanced]), readValue(t, m.decisions[DecisionSID])
		if balanced+bySID != accepted || bySID != n {
			return fmt.Errorf("balanced %v + by sid %v, want %v with %d by sid", balanced, bySID, accepted, n)
		}
		return nil
	})
	fast, slow := pathCounts(t, m)
	if fast != accepted || slow != 0 {
		t.Fatalf("fast path %v, slow path %v of %v accepted; want all fast", fast, slow, accepted)
	}
}

// TestSlowPathSplitRequestLine: a request line that arrives in two writes
// is not complete at accept; the connection takes the slow path (its own
// goroutine under the peek deadline), which waits for the rest and hands
// it off.
func TestSlowPathSplitRequestLine(t *testing.T) {
	m := NewMetrics()
	h := startSupervisor(t, "ok", Options{Workers: 1, Metrics: m}, 1)
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /who?x=")
	testutil.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if fast, slow := pathCounts(t, m); slow != 1 || fast != 0 {
			return fmt.Errorf("fast path %v, slow path %v; want the connection on the slow path", fast, slow)
		}
		return nil
	})
	io.WriteString(c, "1 HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetDeadline(time.Now().Add(10 * time.Second))
	resp, err := readResponse(bufio.NewReader(c))
	if err != nil || !strings.HasPrefix(resp, "instance=") {
		t.Fatalf("answer %q, %v; want the worker's", resp, err)
	}
	testutil.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if got := readValue(t, m.decisions[DecisionBalanced]); got != 1 {
			return fmt.Errorf("balanced %v, want 1", got)
		}
		return nil
	})
	if fast, slow := pathCounts(t, m); slow != 1 || fast != 0 {
		t.Fatalf("fast path %v, slow path %v after the hand-off; want 0, 1", fast, slow)
	}
}

// readResponse reads one response and returns its body.
func readResponse(br *bufio.Reader) (string, error) {
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestHandedOffSocketOptions: a connection reaches the worker with the
// options Go's Accept would have set (TCP_NODELAY, keep-alive 15 s / 15 s
// / 9), set once on the listener and inherited, on both paths; the worker
// (the worker package) sets none itself.
func TestHandedOffSocketOptions(t *testing.T) {
	h := startSupervisor(t, "listener", Options{Workers: 1}, 1)
	const want = "nodelay=1 keepalive=1 idle=15 intvl=15 cnt=9"
	if _, body, err := h.get("/sockopts"); err != nil || body != want {
		t.Fatalf("fast path: %q %v, want %q", body, err, want)
	}
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /sock")
	testutil.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if n := h.slowClients(); n != 1 {
			return fmt.Errorf("%d connections on the slow path, want 1", n)
		}
		return nil
	})
	io.WriteString(c, "opts HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if body, err := readResponse(bufio.NewReader(c)); err != nil || body != want {
		t.Fatalf("slow path: %q %v, want %q", body, err, want)
	}
}

// slowClients returns how many connections wait on the slow path for
// their request line.
func (h *harness) slowClients() int {
	h.s.clientsMu.Lock()
	defer h.s.clientsMu.Unlock()
	return len(h.s.clients)
}

// TestLinkFullFallsBack: when a worker does not read its control link,
// the non-blocking sends of the fast path fail once the link's buffer is
// full; those connections take the slow path (a goroutine waiting to
// send) instead of blocking the accept loop, and once the worker reads
// again every one is served.
// fillLink sends requests to h's one worker, which reads nothing (mode
// "stall"), until its control link is full and connections take the slow
// path; the connections are appended to *clients as they are made.
func fillLink(t *testing.T, h *harness, m *Metrics, clients *[]net.Conn) {
	t.Helper()
	for {
		if len(*clients) >= 5000 {
			t.Fatalf("%d connections sent to a worker that reads nothing, none on the slow path", len(*clients))
		}
		for range 50 {
			c, err := net.Dial("tcp", h.addr)
			if err != nil {
				t.Fatal(err)
			}
			*clients = append(*clients, c)
			if _, err := fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", len(*clients)); err != nil {
				t.Fatal(err)
			}
		}
		// Every one accepted and taken by a path: the accept loop never
		// waits for the worker.
		testutil.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
			if fast, slow := pathCounts(t, m); fast+slow != float64(len(*clients)) {
				return fmt.Errorf("fast %v + slow %v of %d connections taken", fast, slow, len(*clients))
			}
			return nil
		})
		if _, slow := pathCounts(t, m); slow > 0 {
			return
		}
	}
}

// TestShutdownWithWorkerLinkFull: a worker that reads nothing from its
// control link, which is full, does not hold up the shutdown: its Drain
// cannot go out, and it is killed at ShutdownTimeout like any worker that
// does not exit.
func TestShutdownWithWorkerLinkFull(t *testing.T) {
	m := NewMetrics()
	h := startSupervisor(t, "stall", Options{Workers: 1, Metrics: m, ShutdownTimeout: 500 * time.Millisecond}, 1)
	w, _ := h.instanceOf(1)
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	fillLink(t, h, m, &clients)
	if err := h.stop(); err != nil { // fails after 30 s if the shutdown hangs
		t.Fatalf("Run: %v", err)
	}
	if err := syscall.Kill(w.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the stalled worker %d survives the shutdown: %v", w.PID, err)
	}
}

func TestLinkFullFallsBack(t *testing.T) {
	m := NewMetrics()
	h := startSupervisor(t, "stall", Options{Workers: 1, Metrics: m}, 1)
	w, _ := h.instanceOf(1)
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
		// On failure too, so that the worker drains rather than waits for
		// the kill at ShutdownTimeout.
		syscall.Kill(w.PID, syscall.SIGUSR1)
	}()
	fillLink(t, h, m, &clients)
	fast, slow := pathCounts(t, m)
	t.Logf("link full after %v fast hand-offs; %d connections, %v on the slow path", fast, len(clients), slow)
	if fast == 0 || fast+slow != float64(len(clients)) {
		t.Fatalf("fast %v + slow %v, want %d with both > 0", fast, slow, len(clients))
	}
	if got := readValue(t, m.accepts); got != float64(len(clients)) {
		t.Fatalf("%v accepted, %d connections", got, len(clients))
	}
	if err := syscall.Kill(w.PID, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if body, err := readResponse(bufio.NewReader(c)); err != nil || !strings.HasPrefix(body, "instance=") {
			t.Fatalf("client %d: %q %v", i, body, err)
		}
	}
	if got := readValue(t, m.handFailed); got != 0 {
		t.Fatalf("%v hand-offs failed", got)
	}
}

// TestAcceptRawEMFILEBacksOff: when accept4 fails for want of fds
// (EMFILE), the raw accept loop backs off exponentially instead of
// spinning and serves the waiting connection once fds are free again.
// It lowers this process's RLIMIT_NOFILE and fills the fd table; nothing
// else may run meanwhile.
func TestAcceptRawEMFILEBacksOff(t *testing.T) {
	logger, logs := testLogger(t)
	h := startSupervisor(t, "ok", Options{Workers: 1, Logger: logger}, 1)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = uint64(testutil.FDCount(t) + 16)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var fill []int
	restore := func() {
		for _, fd := range fill {
			unix.Close(fd)
		}
		fill = nil
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	defer restore()
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EMFILE {
			break
		}
		if err != nil {
			restore()
			t.Fatal(err)
		}
		fill = append(fill, fd)
		if len(fill) > 1000 {
			restore()
			t.Fatal("the fd table does not fill up")
		}
	}
	unix.Close(fill[len(fill)-1]) // room for the client's socket only
	fill = fill[:len(fill)-1]
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		restore()
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	backoffs := func() []string {
		var d []string
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "accept failed; backing off") {
				if !strings.Contains(line, "too many open files") {
					return []string{"unexpected: " + line}
				}
				_, delay, _ := strings.Cut(line, "delay=")
				d = append(d, delay)
			}
		}
		return d
	}
	var got []string
	testutil.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if got = backoffs(); len(got) < 3 {
			return fmt.Errorf("back-offs logged: %q, want 3", got)
		}
		return nil
	})
	restore()
	if want := []string{"5ms", "10ms", "20ms"}; strings.Join(got[:3], " ") != strings.Join(want, " ") {
		t.Fatalf("back-off delays %q, want %q first", got, want)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if body, err := readResponse(bufio.NewReader(c)); err != nil || !strings.HasPrefix(body, "instance=") {
		t.Fatalf("after EMFILE: %q %v", body, err)
	}
}
