package primary

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stickyd/stickyd/internal/testutil"
)

// harness is a Supervisor running under a test (startSupervisor).
type harness struct {
	t    testing.TB
	s    *Supervisor
	ln   net.Listener // the public listener given to Run
	addr string
	stop func() error // cancels Run and returns its result
}

// startSupervisor runs a Supervisor whose workers are this test binary in
// fake worker mode, on 127.0.0.1:0, and waits for want ready workers.
func startSupervisor(t testing.TB, mode string, opts Options, want int) *harness {
	t.Helper()
	opts.Argv = []string{os.Args[0]}
	opts.Env = append(os.Environ(), fakeWorkerEnv+"="+mode)
	if opts.Workers == 0 {
		opts.Workers = 2
	}
	if opts.Logger == nil {
		opts.Logger, _ = testLogger(t)
	}
	return runSupervisor(t, opts, want)
}

// runSupervisor makes a Supervisor of opts, runs it on a 127.0.0.1:0
// listener until the test's cleanup (or harness.stop) and waits for want
// ready workers.
func runSupervisor(t testing.TB, opts Options, want int) *harness {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	var once sync.Once
	var result error
	h := &harness{t: t, s: s, ln: ln, addr: ln.Addr().String()}
	h.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return within 30 s")
			}
		})
		return result
	}
	t.Cleanup(func() { h.stop() })
	testutil.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if n := h.readyCount(); n < want {
			return fmt.Errorf("%d workers ready, want %d", n, want)
		}
		return nil
	})
	return h
}

// testLogger returns a debug logger writing to a log buffer, printed when
// the test fails (or always with STICKYD_TEST_VERBOSE set).
func testLogger(t testing.TB) (hclog.Logger, *testutil.LogBuffer) {
	logs := &testutil.LogBuffer{}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("STICKYD_TEST_VERBOSE") != "" {
			t.Logf("supervisor log:\n%s", logs.String())
		}
	})
	return hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}), logs
}

func (h *harness) readyCount() int {
	n := 0
	for _, w := range h.s.Status().Workers {
		if w.State == Ready {
			n++
		}
	}
	return n
}

// get sends one GET request for target on a new connection and returns
// the response (body read) or an error.
func (h *harness) get(target string) (*http.Response, string, error) {
	c, err := net.DialTimeout("tcp", h.addr, 5*time.Second)
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	return roundTrip(c, bufio.NewReader(c), target)
}

// roundTrip sends a keep-alive GET for target on c and reads the response.
func roundTrip(c net.Conn, br *bufio.Reader, target string) (*http.Response, string, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: test\r\n\r\n", target); err != nil {
		return nil, "", err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body), err
}

// rawExchange writes req on a new connection and returns everything the
// server sends until it closes the connection.
func (h *harness) rawExchange(req string) (string, error) {
	c, err := net.DialTimeout("tcp", h.addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return string(b), fmt.Errorf("connection not closed: %w", err)
	}
	return string(b), nil
}

// instanceOf returns the instance currently in slot.
func (h *harness) instanceOf(slot int) (WorkerStatus, bool) {
	for _, w := range h.s.Status().Workers {
		if w.Slot == slot && w.State != Gone {
			return w, true
		}
	}
	return WorkerStatus{}, false
}
