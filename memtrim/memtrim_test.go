package memtrim

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

const mb = 1 << 20

func TestShouldTrim(t *testing.T) {
	var o Options
	live := uint64(100 * mb)
	for _, c := range []struct {
		name      string
		prev, now Stats
		want      bool
	}{
		{"quiet, free pages kept", Stats{Live: live, Objects: live, Allocated: 1000 * mb},
			Stats{Live: live, Objects: live, Free: 60 * mb, Allocated: 1001 * mb}, true},
		{"quiet, garbage not collected", Stats{Live: live, Objects: live, Allocated: 1000 * mb},
			Stats{Live: live, Objects: live + 40*mb, Free: 0, Allocated: 1001 * mb}, true},
		{"busy: allocating", Stats{Live: live, Allocated: 1000 * mb},
			Stats{Live: live, Objects: live, Free: 60 * mb, Allocated: 1010 * mb}, false},
		{"quiet, little excess", Stats{Live: live, Allocated: 1000 * mb},
			Stats{Live: live, Objects: live, Free: 20 * mb, Allocated: 1000 * mb}, false},
		{"small heap: excess under MinExcess", Stats{Live: mb, Allocated: 10 * mb},
			Stats{Live: mb, Objects: mb, Free: 3 * mb, Allocated: 10 * mb}, false},
	} {
		if got := o.ShouldTrim(c.prev, c.now); got != c.want {
			t.Errorf("%s: ShouldTrim = %v, want %v (excess %d)", c.name, got, c.want, c.now.Excess())
		}
	}
}

// fakeRuntime plays a script of Stats, one per read, and counts trims.
type fakeRuntime struct {
	mu     sync.Mutex
	script []Stats
	reads  int
	trims  int
}

func (f *fakeRuntime) hooks() runtimeHooks {
	return runtimeHooks{
		read: func() Stats {
			f.mu.Lock()
			defer f.mu.Unlock()
			s := f.script[min(f.reads, len(f.script)-1)]
			f.reads++
			return s
		},
		trim: func() { f.mu.Lock(); f.trims++; f.mu.Unlock() },
	}
}

func (f *fakeRuntime) counts() (reads, trims int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads, f.trims
}

// TestTrimmerTrimsOnceWhenQuiet: a burst (allocating), then quiet with
// excess: one trim, after which the excess is gone and nothing more
// happens; Stop ends the goroutine.
func TestTrimmerTrimsOnceWhenQuiet(t *testing.T) {
	live := uint64(100 * mb)
	f := &fakeRuntime{script: []Stats{
		{Live: live, Objects: live, Allocated: 500 * mb},                // start
		{Live: live, Objects: live, Free: 80 * mb, Allocated: 900 * mb}, // busy
		{Live: live, Objects: live, Free: 80 * mb, Allocated: 901 * mb}, // quiet: trim
		{Live: live, Objects: live, Free: 0, Allocated: 901 * mb},       // after the trim, and on
	}}
	before := runtime.NumGoroutine()
	tr := start(Options{Interval: time.Millisecond}, f.hooks())
	deadline := time.Now().Add(10 * time.Second)
	for reads, _ := f.counts(); reads < 20; reads, _ = f.counts() {
		if time.Now().After(deadline) {
			t.Fatalf("%d reads in 10 s", reads)
		}
		time.Sleep(time.Millisecond)
	}
	tr.Stop()
	tr.Stop()
	if _, trims := f.counts(); trims != 1 || tr.Trims() != 1 {
		t.Errorf("%d trims (Trims %d), want 1", trims, tr.Trims())
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Stop, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(time.Millisecond)
	}
}

// sink keeps the test's live data reachable.
var sink [][]byte

// TestTrimReturnsFreePages: with the real runtime, a heap grown by garbage
// and then quiet is trimmed, and the free pages it kept are returned.
func TestTrimReturnsFreePages(t *testing.T) {
	for range 16 << 10 { // 16 MB live, in small objects
		sink = append(sink, make([]byte, 1024))
	}
	defer func() { sink = nil }()
	garbage := make([][]byte, 64<<10)
	for i := range garbage { // 64 MB of garbage in the same size class
		garbage[i] = make([]byte, 1024)
	}
	runtime.KeepAlive(garbage)
	runtime.GC() // the garbage's pages are free, not yet returned
	if s := ReadStats(); s.Free < 8*mb {
		t.Fatalf("only %d MB of free heap after the garbage was collected, want >= 8", s.Free/mb)
	}
	tr := Start(Options{Interval: 20 * time.Millisecond, QuietRatio: 0.5})
	defer tr.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for tr.Trims() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no trim in 10 s: %+v", ReadStats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s := ReadStats(); s.Free > 4*mb {
		t.Errorf("after a trim %d MB of free heap kept, want < 4", s.Free/mb)
	}
}
