package testutil

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// CheckFor calls fn every interval until it returns nil, and fails the test
// (t.Fatalf, with fn's last error) when it still fails once timeout has
// passed. fn is called at least once, and once more after the deadline, so
// a slow fn is not cut short. It is the tests' replacement for time.Sleep as
// synchronisation.
func CheckFor(t testing.TB, timeout, interval time.Duration, fn func() error) {
	t.Helper()
	if err := poll(timeout, interval, fn); err != nil {
		t.Fatalf("condition not met after %v: %v", timeout, err)
	}
}

// poll is CheckFor without the test: it returns nil once fn succeeded, or
// fn's last error when the deadline passed.
func poll(timeout, interval time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(interval)
	}
}

// GoroutineIn reports whether some goroutine's stack dump (its header line
// included, e.g. "[IO wait") contains every one of parts: with CheckFor,
// a deterministic wait until a goroutine is parked where a test expects.
func GoroutineIn(parts ...string) bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		all := true
		for _, p := range parts {
			if !strings.Contains(g, p) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}
