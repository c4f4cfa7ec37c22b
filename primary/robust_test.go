package primary

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// serveMany sends n requests without sid over fresh connections, conc at a
// time, and returns the time the first one completed.
func serveMany(t *testing.T, h *harness, n, conc int) time.Time {
	t.Helper()
	var first atomic.Pointer[time.Time]
	var failed atomic.Int64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				resp, _, err := h.get("/")
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				now := time.Now()
				first.CompareAndSwap(nil, &now)
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed", f, n)
	}
	return *first.Load()
}

// TestSlowClientsDoNotStall: silent and trickling clients do not hold up
// the 1000 connections that arrive after them, and are closed at the peek
// deadline (not before).
func TestSlowClientsDoNotStall(t *testing.T) {
	const peek = 3 * time.Second
	h := startSupervisor(t, "ok", Options{Workers: 2, PeekTimeout: peek}, 2)
	type slow struct {
		c      net.Conn
		opened time.Time
	}
	var slows []slow
	for i := 0; i < 6; i++ {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		slows = append(slows, slow{c, time.Now()})
	}
	// Tricklers: a valid, never-ending request line, one byte at a time.
	stopTrickle := make(chan struct{})
	defer close(stopTrickle)
	for _, s := range slows[3:] {
		go func(c net.Conn) {
			io.WriteString(c, "GET /")
			tk := time.NewTicker(50 * time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-stopTrickle:
					return
				case <-tk.C:
					if _, err := io.WriteString(c, "a"); err != nil {
						return
					}
				}
			}
		}(s.c)
	}
	first := serveMany(t, h, 1000, 8)
	if limit := slows[0].opened.Add(peek); !first.Before(limit) {
		t.Errorf("first request served at +%v, after the slow clients' peek deadline", first.Sub(slows[0].opened))
	}
	for i, s := range slows {
		s.c.SetReadDeadline(time.Now().Add(peek + 5*time.Second))
		_, err := io.ReadAll(s.c)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("slow client %d not closed", i)
		}
		// (10 ms slack: the clock read here and the one the poller's
		// deadline timer uses are taken at slightly different moments)
		if d := time.Since(s.opened); d < peek-10*time.Millisecond {
			t.Errorf("slow client %d closed after %v, before the %v peek deadline", i, d, peek)
		}
	}
}

// TestNoLeaksAfter10kConns: 10,000 connections of every kind (handed off,
// handed back, unknown sid, garbage, closed at once) leave the primary's fd and
// goroutine counts where they were.
func TestNoLeaksAfter10kConns(t *testing.T) {
	h := startSupervisor(t, "ok", Options{Workers: 2}, 2)
	serveMany(t, h, 50, 4) // warm up pools and workers
	sids := sidsByInstance(t, h, 2)
	var pair []string
	for _, sid := range sids {
		pair = append(pair, sid)
	}
	// Baseline once the warm-up's connection goroutines have finished.
	fds0, gs0 := testutil.FDCount(t), runtime.NumGoroutine()
	testutil.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		fds, gs := testutil.FDCount(t), runtime.NumGoroutine()
		if fds != fds0 || gs != gs0 {
			fds0, gs0 = fds, gs
			return fmt.Errorf("fds %d, goroutines %d still changing", fds, gs)
		}
		return nil
	})
	var wg sync.WaitGroup
	var next atomic.Int64
	var bad atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > 10000 {
					return
				}
				switch i % 10 {
				case 0:
					if got, err := h.rawExchange("GET /?sid=zz HTTP/1.1\r\n\r\n"); err != nil || got != wantUnknownSID {
						bad.Add(1)
					}
				case 1:
					if got, err := h.rawExchange("nonsense\r\n"); err != nil || len(got) < 12 || got[:12] != "HTTP/1.1 400" {
						bad.Add(1)
					}
				case 2:
					if c, err := net.Dial("tcp", h.addr); err == nil {
						c.Close()
					}
				case 3: // keep-alive across instances: one hand-back
					c, err := net.Dial("tcp", h.addr)
					if err != nil {
						bad.Add(1)
						continue
					}
					br := bufio.NewReader(c)
					for _, sid := range pair {
						if resp, _, err := roundTrip(c, br, "/who?sid="+sid); err != nil || resp.StatusCode != 200 {
							bad.Add(1)
						}
					}
					c.Close()
				default:
					if resp, _, err := h.get("/"); err != nil || resp.StatusCode != 200 {
						bad.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := bad.Load(); n != 0 {
		t.Fatalf("%d connections got a wrong answer", n)
	}
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		fds, gs := testutil.FDCount(t), runtime.NumGoroutine()
		if fds > fds0 || gs > gs0 {
			return fmt.Errorf("fds %d -> %d, goroutines %d -> %d", fds0, fds, gs0, gs)
		}
		return nil
	})
}

// emfileListener fails its first n Accepts with EMFILE.
type emfileListener struct {
	net.Listener
	n     atomic.Int64
	calls atomic.Int64
}

func (l *emfileListener) Accept() (net.Conn, error) {
	l.calls.Add(1)
	if l.n.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAcceptEMFILEBacksOff: accept errors (EMFILE) back off exponentially
// instead of spinning, and the primary keeps serving afterwards.
func TestAcceptEMFILEBacksOff(t *testing.T) {
	s, err := New(Options{Argv: []string{os.Args[0]}, Env: append(os.Environ(), fakeWorkerEnv+"=ok"), Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &emfileListener{Listener: inner}
	ln.n.Store(6) // 5+10+20+40+80+160 ms of back-off
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	defer func() {
		cancel()
		<-done
	}()
	testutil.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if st := s.Status(); len(st.Workers) != 1 || st.Workers[0].State != Ready {
			return fmt.Errorf("worker not ready: %+v", st.Workers)
		}
		return nil
	})
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, body, err := roundTrip(c, bufio.NewReader(c), "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after EMFILE: %v %q %v", resp, body, err)
	}
	if d := time.Since(start); d < 315*time.Millisecond {
		t.Errorf("served after %v; want >= 315ms of back-off", d)
	}
	// 6 failures, 1 success, then the loop waits in its 8th Accept: no spinning.
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if got, want := ln.calls.Load(), int64(8); got != want {
			return fmt.Errorf("Accept called %d times, want %d", got, want)
		}
		return nil
	})
}

// TestPeekLimitRefusesExcess: a hostile client opens many silent
// connections. MaxPeeking of them wait on the slow path for their request
// line; each one beyond gets, at once, 503 with Retry-After: 1 and a close
// (counted as refused_peek_limit), not a goroutine and an fd for the peek
// deadline. Clients whose request line is there at accept (the fast path)
// are served meanwhile, and once the silent ones go, a slow client is
// served again.
func TestPeekLimitRefusesExcess(t *testing.T) {
	const max, excess = 8, 24
	m := NewMetrics()
	h := startSupervisor(t, "ok", Options{Workers: 1, PeekTimeout: time.Minute, MaxPeeking: max, Metrics: m}, 1)
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", h.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var held []net.Conn
	for range max {
		held = append(held, dial())
	}
	// Silent: TCP_DEFER_ACCEPT queues them for accept after about a second.
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := readValue(t, m.peeking); n != max {
			return fmt.Errorf("%v connections peeking, want %d", n, max)
		}
		return nil
	})
	var wg sync.WaitGroup
	answers := make([]string, excess)
	for i := range excess {
		c := dial()
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			b, err := io.ReadAll(c)
			answers[i] = string(b)
			if err != nil {
				answers[i] += " (" + err.Error() + ")"
			}
		}()
	}
	if _, body, err := h.get("/who"); err != nil || body != "instance=1" {
		t.Errorf("a client on the fast path during the flood: %q, %v", body, err)
	}
	wg.Wait()
	for i, a := range answers {
		if !strings.HasPrefix(a, "HTTP/1.1 503 Service Unavailable\r\n") || !strings.Contains(a, "\r\nRetry-After: 1\r\n") || !strings.HasSuffix(a, "\r\n\r\nserver is busy\n") {
			t.Fatalf("silent connection %d beyond the limit got %q, want 503 busy then EOF", i, a)
		}
	}
	if got := readValue(t, m.decisions[DecisionPeekLimit]); got != excess {
		t.Errorf("refused_peek_limit = %v, want %d", got, excess)
	}
	if got := readValue(t, m.peeking); got != max {
		t.Errorf("%v peeking after the refusals, want %d", got, max)
	}
	for _, c := range held {
		c.Close()
	}
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := readValue(t, m.peeking); n != 0 {
			return fmt.Errorf("%v connections peeking after the silent ones closed", n)
		}
		return nil
	})
	c := dial()
	if _, err := io.WriteString(c, "GET /who"); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := readValue(t, m.peeking); n != 1 {
			return fmt.Errorf("%v connections peeking, want the slow client", n)
		}
		return nil
	})
	io.WriteString(c, " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(c); err != nil || !strings.HasSuffix(string(b), "\r\n\r\ninstance=1") {
		t.Errorf("slow client after the flood: %q, %v", b, err)
	}
}
