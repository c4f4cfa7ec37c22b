// Package memtrim returns to the operating system the memory the Go runtime
// keeps after a burst of work, once the process has gone quiet.
//
// A server of mostly idle connections allocates hard while they connect
// (handshakes, upgrades) and then hardly at all. The runtime keeps the heap
// it grew: the garbage collector lets the heap reach twice the live heap
// (GOGC=100) before it collects, and the scavenger returns free pages only
// down to about that goal. For 5,000 idle Socket.IO websockets that is about
// 14 KB of RSS per connection for 5 KB of live heap. A Trimmer watches the
// runtime's own counters and, when the process has allocated little for a
// while and the heap holds much more than its live data (free pages not yet
// returned, or garbage not yet collected), collects and returns the free
// pages at once (debug.FreeOSMemory): RSS falls to about the live heap. A
// busy process is never trimmed: its headroom is what keeps its collections
// rare.
//
// The trim is process-wide (it is a full collection); a process starts at
// most one Trimmer, from main, as it would set GOGC.
//
// # Concurrency
//
// Start runs one goroutine per Trimmer until Stop. Stop and Trims are safe
// for concurrent use.
package memtrim

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Defaults of Options.
const (
	DefaultInterval   = 2 * time.Second
	DefaultMinExcess  = 4 << 20
	DefaultRatio      = 0.25
	DefaultQuietRatio = 0.05
)

// Options tune a Trimmer; zero values take the defaults.
type Options struct {
	// Interval is how often the Trimmer reads the runtime's counters, and
	// the window over which the process must have been quiet.
	Interval time.Duration
	// MinExcess is the least excess (heap bytes beyond the live heap and
	// not returned to the OS) worth a trim.
	MinExcess uint64
	// Ratio: trim when the excess is more than Ratio times the live heap.
	Ratio float64
	// QuietRatio: the process is quiet when it allocated less than
	// QuietRatio times the live heap during the last Interval.
	QuietRatio float64
	// Logger gets a debug line per trim (nil: none).
	Logger hclog.Logger
}

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.MinExcess == 0 {
		o.MinExcess = DefaultMinExcess
	}
	if o.Ratio <= 0 {
		o.Ratio = DefaultRatio
	}
	if o.QuietRatio <= 0 {
		o.QuietRatio = DefaultQuietRatio
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	return o
}

// Stats are the runtime counters a Trimmer decides on, in bytes.
type Stats struct {
	Live      uint64 // live heap marked by the last collection
	Objects   uint64 // heap objects now, garbage not yet swept included
	Free      uint64 // free heap not returned to the OS
	Allocated uint64 // allocated since the process started (cumulative)
}

// Excess is what a trim can give back: free pages kept, plus garbage
// allocated since the last collection.
func (s Stats) Excess() uint64 {
	e := s.Free
	if s.Objects > s.Live {
		e += s.Objects - s.Live
	}
	return e
}

// ShouldTrim reports whether a trim pays, from the counters one Interval
// ago (prev) and now: the process allocated less than QuietRatio of the
// live heap since prev, and the excess is above MinExcess and Ratio of
// the live heap.
func (o Options) ShouldTrim(prev, now Stats) bool {
	o = o.withDefaults()
	quiet := float64(now.Allocated-prev.Allocated) < o.QuietRatio*float64(now.Live)
	ex := now.Excess()
	return quiet && ex >= o.MinExcess && float64(ex) > o.Ratio*float64(now.Live)
}

// runtimeHooks are the runtime calls a Trimmer makes: tests replace them.
type runtimeHooks struct {
	read func() Stats
	trim func()
}

// Trimmer trims the process's heap when it pays (see the package doc).
type Trimmer struct {
	opts  Options
	rt    runtimeHooks
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	trims atomic.Uint64
}

// Start starts a Trimmer with opts. The caller stops it with Stop.
func Start(opts Options) *Trimmer {
	return start(opts, runtimeHooks{read: ReadStats, trim: debug.FreeOSMemory})
}

func start(opts Options, rt runtimeHooks) *Trimmer {
	t := &Trimmer{opts: opts.withDefaults(), rt: rt, stop: make(chan struct{}), done: make(chan struct{})}
	go t.run()
	return t
}

// Stop stops the Trimmer and waits for its goroutine to end. Idempotent.
func (t *Trimmer) Stop() {
	t.once.Do(func() { close(t.stop) })
	<-t.done
}

// Trims is how many trims the Trimmer has made.
func (t *Trimmer) Trims() uint64 { return t.trims.Load() }

func (t *Trimmer) run() {
	defer close(t.done)
	tick := time.NewTicker(t.opts.Interval)
	defer tick.Stop()
	prev := t.rt.read()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		now := t.rt.read()
		if t.opts.ShouldTrim(prev, now) {
			began, excess := time.Now(), now.Excess()
			t.rt.trim()
			t.trims.Add(1)
			now = t.rt.read()
			t.opts.Logger.Debug("heap trimmed", "excess_bytes", excess, "live_bytes", now.Live, "took", time.Since(began))
		}
		prev = now
	}
}

// statNames are the runtime/metrics behind Stats, in its field order.
var statNames = [...]string{
	"/gc/heap/live:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
	"/gc/heap/allocs:bytes",
}

// ReadStats reads the runtime's counters (runtime/metrics; cheap, no
// stop-the-world).
func ReadStats() Stats {
	var samples [len(statNames)]metrics.Sample
	for i, n := range statNames {
		samples[i].Name = n
	}
	metrics.Read(samples[:])
	v := func(i int) uint64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return samples[i].Value.Uint64()
	}
	return Stats{Live: v(0), Objects: v(1), Free: v(2), Allocated: v(3)}
}
