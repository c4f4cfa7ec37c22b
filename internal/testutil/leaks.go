package testutil

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// Defaults of a leak check: how long it waits for the counts to come back
// and how often it looks.
const (
	DefaultLeakTimeout  = 5 * time.Second
	DefaultLeakInterval = 10 * time.Millisecond
)

// FDCount returns the number of open file descriptors of this process, read
// from /proc/self/fd (fdDir). The count includes the fd used to read the
// directory, as every count does, so counts compare with each other. It
// fails the test when the directory cannot be read. On OSes without one
// (fdDir is "": all but Linux) it returns 0, so leak checks there compare
// goroutines only.
func FDCount(t testing.TB) int {
	t.Helper()
	if fdDir == "" {
		return 0
	}
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		t.Fatalf("testutil: count fds: %v", err)
	}
	return len(ents)
}

// Option changes what a leak check compares or how long it waits.
type Option func(*leakConfig)

type leakConfig struct {
	timeout, interval time.Duration
	fds               bool // compare fd counts too
	extraGoroutines   int  // goroutines allowed above the baseline
}

// Within makes a leak check poll every interval for up to timeout (default
// DefaultLeakTimeout, DefaultLeakInterval).
func Within(timeout, interval time.Duration) Option {
	return func(c *leakConfig) { c.timeout, c.interval = timeout, interval }
}

// GoroutinesOnly makes a leak check compare goroutine counts only, not fds.
func GoroutinesOnly() Option {
	return func(c *leakConfig) { c.fds = false }
}

// ExtraGoroutines allows n goroutines above the baseline, for goroutines a
// test starts on purpose that outlive the check (an httptest server closed
// by a later cleanup).
func ExtraGoroutines(n int) Option {
	return func(c *leakConfig) { c.extraGoroutines = n }
}

// Baseline is the goroutine and fd counts of the process at one moment,
// against which a later Check compares.
type Baseline struct {
	goroutines, fds int
	cfg             leakConfig
}

// TakeBaseline records the process's goroutine count and (unless
// GoroutinesOnly) its fd count now.
func TakeBaseline(t testing.TB, opts ...Option) *Baseline {
	t.Helper()
	b := &Baseline{cfg: leakConfig{timeout: DefaultLeakTimeout, interval: DefaultLeakInterval, fds: true}}
	for _, o := range opts {
		o(&b.cfg)
	}
	b.goroutines = runtime.NumGoroutine()
	if b.cfg.fds {
		b.fds = FDCount(t)
	}
	return b
}

// Check polls until the goroutine count is at most the baseline's (plus
// ExtraGoroutines) and the fd count at most the baseline's, and fails the
// test (t.Fatalf) when that does not happen within the check's timeout. The
// failure names both counts and, when goroutines are left over, dumps every
// goroutine's stack.
func (b *Baseline) Check(t testing.TB) {
	t.Helper()
	maxG := b.goroutines + b.cfg.extraGoroutines
	var excessG bool
	err := poll(b.cfg.timeout, b.cfg.interval, func() error {
		var errs []error
		excessG = false
		if b.cfg.fds {
			if n := FDCount(t); n > b.fds {
				errs = append(errs, fmt.Errorf("%d fds, was %d", n, b.fds))
			}
		}
		if n := runtime.NumGoroutine(); n > maxG {
			excessG = true
			errs = append(errs, fmt.Errorf("%d goroutines, want <= %d", n, maxG))
		}
		return errors.Join(errs...)
	})
	if err == nil {
		return
	}
	msg := err.Error()
	if excessG {
		msg += "\n" + stacks()
	}
	t.Fatalf("leak after %v: %s", b.cfg.timeout, msg)
}

// CheckNoLeaks takes a Baseline now and Checks it in a t.Cleanup. Call it
// first in a test, so that its cleanup runs after the test's other
// cleanups have closed what they opened.
func CheckNoLeaks(t testing.TB, opts ...Option) {
	t.Helper()
	b := TakeBaseline(t, opts...)
	t.Cleanup(func() {
		t.Helper()
		b.Check(t)
	})
}

// stacks returns the stacks of all goroutines (cut at 64 KiB).
func stacks() string {
	buf := make([]byte, 1<<16)
	return string(buf[:runtime.Stack(buf, true)])
}
