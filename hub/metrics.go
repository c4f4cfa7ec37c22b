package hub

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stickyd/stickyd/ipc"
)

// Frame directions, the dir label of the frame metrics.
const (
	dirIn  = 0 // member → hub
	dirOut = 1 // hub → member
)

// frameCounters are the pre-resolved counters of one frame type and direction.
type frameCounters struct {
	frames, bytes prometheus.Counter
}

// Metrics are the hub's Prometheus metrics (stickyd_hub_*). Create them
// with NewMetrics on the registry that serves them (the primary's) and
// give them to Options.Metrics.
//
// Every method is safe for concurrent use and a no-op on a nil *Metrics.
// The per-frame hooks touch only counters resolved in advance: a few
// atomic adds, no allocation, no map, no lock.
type Metrics struct {
	frames   [][2]frameCounters // by frame type - ipc.HubTypeFirst; last: unknown
	orphaned prometheus.Counter
	cuts     prometheus.Counter
	dropped  prometheus.Counter
	stall    prometheus.Counter
}

// NewMetrics creates the hub's metrics and registers them on reg. It
// panics when reg already holds metrics of the same names (as
// prometheus.MustRegister does): one Metrics per registry.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{}
	frames := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "stickyd_hub_frames_total",
		Help: "Adapter frames through the hub, by frame type and direction (in: from workers; out: to workers, volatile frames then dropped included).",
	}, []string{"type", "dir"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "stickyd_hub_bytes_total",
		Help: "Payload bytes of adapter frames through the hub, by frame type and direction.",
	}, []string{"type", "dir"})
	var names []string
	for t := ipc.HubTypeFirst; !strings.HasPrefix(t.String(), "HubType("); t++ {
		names = append(names, t.String())
	}
	names = append(names, "unknown")
	m.frames = make([][2]frameCounters, len(names))
	for i, n := range names {
		for d, dir := range [2]string{"in", "out"} {
			m.frames[i][d] = frameCounters{frames.WithLabelValues(n, dir), bytes.WithLabelValues(n, dir)}
		}
	}
	m.orphaned = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "stickyd_hub_requests_resolved_by_dead_worker_total",
		Help: "Cluster requests a worker had not answered with a final response when its hub link ended; their requesters resolve them at once. Includes requests it would never have answered (a serverSideEmit or broadcast with acks left unacked).",
	})
	m.cuts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "stickyd_hub_stall_timeouts_total",
		Help: "Hub links cut as slow consumers: the worker's queue stayed over the stall threshold for the stall timeout, or passed the cut threshold.",
	})
	m.dropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "stickyd_hub_volatile_dropped_total",
		Help: "Volatile broadcasts dropped for a worker whose queue was full.",
	})
	m.stall = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "stickyd_hub_stall_seconds_total",
		Help: "Time the hub held back reading a worker's link because destinations of its frames were congested (at most the stall budget per frame).",
	})
	reg.MustRegister(frames, bytes, m.orphaned, m.cuts, m.dropped, m.stall)
	return m
}

// frame counts one adapter frame of type typ with a payload of n bytes
// in direction dir (dirIn or dirOut).
func (m *Metrics) frame(typ byte, n int, dir int) {
	if m == nil {
		return
	}
	i := int(typ) - int(ipc.HubTypeFirst)
	if i < 0 || i >= len(m.frames)-1 {
		i = len(m.frames) - 1
	}
	c := &m.frames[i][dir]
	c.frames.Inc()
	c.bytes.Add(float64(n))
}

// orphanedRequests counts n requests left awaiting a member that left.
func (m *Metrics) orphanedRequests(n int64) {
	if m != nil && n > 0 {
		m.orphaned.Add(float64(n))
	}
}

// linkCut counts a link cut as a slow consumer.
func (m *Metrics) linkCut() {
	if m != nil {
		m.cuts.Inc()
	}
}

// volatileDropped counts a dropped volatile broadcast.
func (m *Metrics) volatileDropped() {
	if m != nil {
		m.dropped.Inc()
	}
}

// stalled adds d to the time links were held back.
func (m *Metrics) stalled(d time.Duration) {
	if m != nil {
		m.stall.Add(d.Seconds())
	}
}
