package testutil

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a testing.TB whose Fatalf records the message and stops the
// helper (by a panic that run recovers: no extra goroutine, so goroutine
// counts are not disturbed).
type recorder struct {
	testing.TB
	fatal    string
	cleanups []func()
}

// fatalStop is what recorder.Fatalf panics with.
type fatalStop struct{}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	panic(fatalStop{})
}

func (r *recorder) Cleanup(fn func()) { r.cleanups = append(r.cleanups, fn) }

// run calls fn(r) and returns the Fatalf message ("" when fn returned
// normally).
func (r *recorder) run(fn func(tb testing.TB)) (msg string) {
	r.fatal = ""
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(fatalStop); !ok {
				panic(v)
			}
		}
		msg = r.fatal
	}()
	fn(r)
	return ""
}

// runCleanups runs the registered cleanups, last first, as testing does.
func (r *recorder) runCleanups() string {
	return r.run(func(testing.TB) {
		for i := len(r.cleanups) - 1; i >= 0; i-- {
			r.cleanups[i]()
		}
	})
}

func newRecorder(t *testing.T) *recorder { return &recorder{TB: t} }

func TestCheckForRetriesUntilNil(t *testing.T) {
	calls := 0
	msg := newRecorder(t).run(func(tb testing.TB) {
		CheckFor(tb, 5*time.Second, time.Millisecond, func() error {
			calls++
			if calls < 4 {
				return errors.New("not yet")
			}
			return nil
		})
	})
	if msg != "" {
		t.Fatalf("CheckFor failed: %s", msg)
	}
	if got, want := calls, 4; got != want {
		t.Errorf("fn called %d times, want %d", got, want)
	}
}

func TestCheckForFailsWithLastError(t *testing.T) {
	calls := 0
	start := time.Now()
	msg := newRecorder(t).run(func(tb testing.TB) {
		CheckFor(tb, 30*time.Millisecond, time.Millisecond, func() error {
			calls++
			return fmt.Errorf("attempt %d", calls)
		})
	})
	if elapsed := time.Since(start); elapsed < 30*time.Millisecond {
		t.Errorf("gave up after %v, before the 30ms timeout", elapsed)
	}
	if want := fmt.Sprintf("condition not met after 30ms: attempt %d", calls); msg != want {
		t.Errorf("got %q, want %q", msg, want)
	}
	if calls < 2 {
		t.Errorf("fn called %d times, want retries", calls)
	}
}

func TestFDCount(t *testing.T) {
	before := FDCount(t)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := FDCount(t), before+1; got != want {
		t.Errorf("with one more file open: %d fds, want %d", got, want)
	}
	f.Close()
	if got, want := FDCount(t), before; got != want {
		t.Errorf("after close: %d fds, want %d", got, want)
	}
}

// leakGoroutine starts leakedGoroutines goroutines that run until the
// returned func is called; that func waits for them to be gone from the
// count. Several, so that goroutines of earlier tests still exiting when a
// baseline is taken cannot hide them.
func leakGoroutine(t *testing.T) (stop func()) {
	before := runtime.NumGoroutine()
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range leakedGoroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
		}()
	}
	return func() {
		close(release)
		wg.Wait()
		CheckFor(t, 5*time.Second, time.Millisecond, func() error {
			if n := runtime.NumGoroutine(); n > before {
				return fmt.Errorf("%d goroutines, was %d", n, before)
			}
			return nil
		})
	}
}

const leakedGoroutines = 8

func TestCheckNoLeaks(t *testing.T) {
	short := Within(50*time.Millisecond, time.Millisecond)
	tests := []struct {
		name string
		opts []Option
		leak func(t *testing.T) (undo func())
		want string // substring of the failure; "" for a pass
	}{
		{"nothing", []Option{short}, func(*testing.T) func() { return func() {} }, ""},
		{"goroutine", []Option{short}, leakGoroutine, "goroutines, want <="},
		{"goroutines allowed", []Option{short, ExtraGoroutines(leakedGoroutines)}, leakGoroutine, ""},
		{"fd", []Option{short}, leakFD, "fds, was"},
		{"fd ignored", []Option{short, GoroutinesOnly()}, leakFD, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecorder(t)
			if msg := r.run(func(tb testing.TB) { CheckNoLeaks(tb, tt.opts...) }); msg != "" {
				t.Fatalf("CheckNoLeaks: %s", msg)
			}
			undo := tt.leak(t)
			got := r.runCleanups()
			undo()
			switch {
			case tt.want == "" && got != "":
				t.Errorf("check failed: %s", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Errorf("got %q, want a failure containing %q", got, tt.want)
			}
		})
	}
}

// TestCheckNoLeaksCountsFromBaseline checks the counts are compared with
// the baseline, and not the absolute number of goroutines.
func TestCheckNoLeaksCountsFromBaseline(t *testing.T) {
	stop := leakGoroutine(t) // exists before the baseline: not a leak
	defer stop()
	r := newRecorder(t)
	b := TakeBaseline(r, Within(50*time.Millisecond, time.Millisecond))
	if got := r.run(b.Check); got != "" {
		t.Errorf("check failed: %s", got)
	}
}

// TestCheckWaitsForExit checks that a goroutine still exiting when the
// check starts is waited for, not reported.
func TestCheckWaitsForExit(t *testing.T) {
	b := TakeBaseline(t, Within(5*time.Second, time.Millisecond))
	release := make(chan struct{})
	go func() { <-release }()
	close(release) // exits concurrently with Check
	msg := newRecorder(t).run(b.Check)
	if msg != "" {
		t.Errorf("check failed: %s", msg)
	}
}

func TestCheckDumpsStacks(t *testing.T) {
	r := newRecorder(t)
	b := TakeBaseline(r, Within(20*time.Millisecond, time.Millisecond))
	stop := leakGoroutine(t)
	msg := r.run(b.Check)
	stop()
	if !strings.Contains(msg, "leakGoroutine") {
		t.Errorf("failure does not show the leaked goroutine's stack:\n%s", msg)
	}
}

func leakFD(t *testing.T) func() {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	return func() { f.Close() }
}

func TestGoroutineIn(t *testing.T) {
	ch := make(chan struct{})
	defer close(ch)
	go func() { <-ch }()
	CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if !GoroutineIn("[chan receive", "TestGoroutineIn.func") {
			return errors.New("the receiving goroutine is not parked yet")
		}
		return nil
	})
	if GoroutineIn("[chan receive", "no such function in any stack") {
		t.Error("GoroutineIn matched a part no stack has")
	}
}

// TestHoldsListener: true while this process listens on the address,
// false once the listener is closed.
func TestHoldsListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if got, err := HoldsListener(addr); !got || err != nil {
		t.Fatalf("HoldsListener(%s) while listening = %v, %v; want true", addr, got, err)
	}
	ln.Close()
	if got, err := HoldsListener(addr); got || err != nil {
		t.Fatalf("HoldsListener(%s) after Close = %v, %v; want false", addr, got, err)
	}
	if _, err := HoldsListener("[::1]:80"); err == nil {
		t.Fatal("HoldsListener of an IPv6 address: no error")
	}
}
