package primary

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Decision is the outcome of routing one connection, the label value of
// stickyd_routing_decisions_total.
type Decision int

// Routing decisions.
const (
	// DecisionSID: a fresh connection routed to the owner of its sid.
	DecisionSID Decision = iota
	// DecisionBalanced: a connection without sid routed by the balancer.
	DecisionBalanced
	// DecisionUnknownSID: answered 400 Session ID unknown.
	DecisionUnknownSID
	// DecisionHandedBack: a connection a worker handed back, re-routed.
	DecisionHandedBack
	// DecisionBadRequest: answered 400 for a bad request line.
	DecisionBadRequest
	// DecisionURITooLong: answered 414 for a too long request line.
	DecisionURITooLong
	// DecisionNoWorker: answered 503, no worker ready.
	DecisionNoWorker
	// DecisionPeekTimeout: closed, no request line within PeekTimeout.
	DecisionPeekTimeout
	// DecisionTLSOrH2: closed, a TLS ClientHello or the HTTP/2 preface.
	DecisionTLSOrH2
	// DecisionClientClosed: the client closed or reset before a request line.
	DecisionClientClosed
	// DecisionTLSHandshake: closed, the TLS handshake failed or timed out
	// (TLS listener only).
	DecisionTLSHandshake
	// DecisionPeekLimit: refused at accept, Options.MaxPeeking connections
	// already waiting for their request line: answered 503 (closed on the
	// TLS listener).
	DecisionPeekLimit

	numDecisions
)

var decisionNames = [numDecisions]string{
	"sid", "balanced", "unknown_sid", "handed_back", "rejected_bad_request",
	"rejected_uri_too_long", "no_worker_503", "peek_timeout", "tls_or_h2", "client_closed",
	"tls_handshake_failed", "refused_peek_limit",
}

// String returns the label value of d.
func (d Decision) String() string {
	if d >= 0 && d < numDecisions {
		return decisionNames[d]
	}
	return "Decision(" + strconv.Itoa(int(d)) + ")"
}

// HandoffBuckets are the bounds (seconds) of the hand-off latency
// histogram, accept to fd sent: 10 µs to ~1.3 s, doubling.
var HandoffBuckets = prometheus.ExponentialBuckets(10e-6, 2, 18)

// Metrics collects the primary's Prometheus metrics in a private registry
// (with the Go and process collectors). Create it with NewMetrics, give it
// to Options.Metrics, and serve Handler. The hub registers its own metrics
// on the same registry (hub.NewMetrics(m.Registry())).
//
// A Metrics serves one Supervisor. Every method is safe for
// concurrent use; the hooks the primary calls are no-ops on a nil
// *Metrics, so the primary runs without metrics at the cost of a nil
// check. The hot-path hooks (accept, routing decision, hand-off)
// touch only counters resolved in advance: a few atomic adds, no
// allocation, no map, no lock. Gauges (workers by state, sessions,
// generation) are read at scrape time from the Status the Supervisor gives
// it when it runs (attach); Metrics does not know the Supervisor.
type Metrics struct {
	reg *prometheus.Registry

	accepts    prometheus.Counter
	paths      [2]prometheus.Counter // accept paths: slow, fast
	decisions  [numDecisions]prometheus.Counter
	latency    prometheus.Histogram
	handoffs   *prometheus.CounterVec // slot, generation
	handFailed prometheus.Counter
	restarts   *prometheus.CounterVec // slot
	peeking    prometheus.Gauge
	relays     prometheus.Gauge
	fleet      *fleetMetrics // relays between hosts

	source atomic.Pointer[statusSource] // set by attach
	base   time.Time                    // origin of the monotonic stamps of now

	seriesMu      sync.Mutex          // guards handoffSeries
	handoffSeries map[handoffKey]bool // the handoffs series created
}

// statusSource is what a Metrics reads at scrape time and for /healthz and
// /readyz: the Supervisor's Status and whether it is running, as funcs so
// that Metrics does not know the Supervisor.
type statusSource struct {
	status  func() Status
	running func() bool
}

type handoffKey struct {
	slot int
	gen  uint32
}

// NewMetrics returns a Metrics with its own registry, which holds the
// stickyd_* metrics and the Go and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), handoffSeries: make(map[handoffKey]bool), base: time.Now()}
	m.accepts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "stickyd_connections_accepted_total",
		Help: "Client TCP connections accepted by the primary.",
	})
	paths := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "stickyd_accept_path_total",
		Help: "Accepted client connections by how the primary took them: fast (request line there at accept: routed and handed off on the accept loop) or slow (a goroutine under the peek deadline).",
	}, []string{"path"})
	m.paths[0] = paths.WithLabelValues("slow")
	m.paths[1] = paths.WithLabelValues("fast")
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "stickyd_routing_decisions_total",
		Help: "Connections routed or answered by the primary, by decision.",
	}, []string{"decision"})
	for d := range numDecisions {
		m.decisions[d] = decisions.WithLabelValues(d.String())
	}
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "stickyd_handoff_duration_seconds",
		Help:    "Time from accepting a connection to sending its fd to a worker.",
		Buckets: HandoffBuckets,
	})
	m.handoffs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "stickyd_handoffs_total",
		Help: "Connection fds sent to workers (fresh and handed back), by worker slot and generation.",
	}, []string{"slot", "generation"})
	m.handFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "stickyd_handoff_failures_total",
		Help: "Hand-offs that failed (the worker's link broke); the connection was closed.",
	})
	m.restarts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "stickyd_worker_restarts_total",
		Help: "Workers respawned after an exit, by slot.",
	}, []string{"slot"})

	m.peeking = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "stickyd_connections_peeking",
		Help: "Client connections on the slow path waiting for their request line (or TLS handshake), at most --max-peeking.",
	})
	m.relays = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "stickyd_tls_relays",
		Help: "TLS connections the primary relays to a worker now (HTTPS listener).",
	})

	m.fleet = newFleetMetrics(m.reg)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.accepts, paths, decisions, m.latency, m.handoffs, m.handFailed, m.restarts, m.peeking, m.relays,
		statusCollector{m},
	)
	return m
}

// Registry returns the private registry, for registering more collectors
// or gathering in tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// attach makes status and running the source of the scrape-time gauges,
// /healthz and /readyz, and creates the restart counters of slots 1 to
// workers. Supervisor.Run calls it.
func (m *Metrics) attach(workers int, status func() Status, running func() bool) {
	if m == nil {
		return
	}
	m.source.Store(&statusSource{status: status, running: running})
	for i := 1; i <= workers; i++ {
		m.restarts.WithLabelValues(strconv.Itoa(i))
	}
}

// stamp is a monotonic instant: time since Metrics.base, 0 for none.
type stamp time.Duration

// now returns the current instant when m is collecting, else 0 (so the
// accept loop reads no clock without metrics). It reads only the
// monotonic clock, half the cost of time.Now.
func (m *Metrics) now() stamp {
	if m == nil {
		return 0
	}
	return stamp(max(time.Since(m.base), 1))
}

// accepted counts one accepted client connection.
func (m *Metrics) accepted() {
	if m != nil {
		m.accepts.Inc()
	}
}

// acceptPath counts an accepted connection as taken by the fast path
// (handed off on the accept loop) or the slow path (a goroutine). Every
// accepted TCP connection is counted once, before its decision.
func (m *Metrics) acceptPath(fast bool) {
	if m == nil {
		return
	}
	if fast {
		m.paths[1].Inc()
	} else {
		m.paths[0].Inc()
	}
}

// routed counts one routing decision.
func (m *Metrics) routed(d Decision) {
	if m != nil && d >= 0 && d < numDecisions {
		m.decisions[d].Inc()
	}
}

// rejected counts a connection whose request line could not be routed,
// classifying err as rejectClient does.
func (m *Metrics) rejected(err error) {
	if m != nil {
		m.routed(rejectDecision(err))
	}
}

// handoffCounter returns the pre-resolved hand-off counter of a worker
// (nil without metrics). Call once per instance, not per hand-off.
func (m *Metrics) handoffCounter(slot int, gen uint32) prometheus.Counter {
	if m == nil {
		return nil
	}
	m.seriesMu.Lock()
	m.handoffSeries[handoffKey{slot, gen}] = true
	m.seriesMu.Unlock()
	return m.handoffs.WithLabelValues(strconv.Itoa(slot), strconv.FormatUint(uint64(gen), 10))
}

// handedOff counts a successful hand-off on c (from handoffCounter) and,
// unless accepted is 0 (a hand-back), observes its latency.
func (m *Metrics) handedOff(c prometheus.Counter, accepted stamp) {
	if m == nil {
		return
	}
	if c != nil {
		c.Inc()
	}
	if accepted != 0 {
		m.latency.Observe(time.Duration(m.now() - accepted).Seconds())
	}
}

// instanceMetrics are the pre-resolved metrics of one worker instance.
type instanceMetrics struct {
	handoffs prometheus.Counter // nil without metrics
}

// forInstance resolves the metrics of a new instance in slot of
// generation gen. Call once per instance, not per hand-off.
func (m *Metrics) forInstance(slot int, gen uint32) instanceMetrics {
	return instanceMetrics{handoffs: m.handoffCounter(slot, gen)}
}

// handoffDone counts a routed connection: its decision (handed back when
// handBack, by sid when bySID, else balanced) and, when err is nil, a
// hand-off to the instance of im with its latency from accepted (zero for
// a hand-back); else a failed hand-off.
//
// The decision is counted last, so a scrape that sees it also sees the
// hand-off counted.
func (m *Metrics) handoffDone(im instanceMetrics, bySID, handBack bool, accepted stamp, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.handFailed.Inc()
	} else {
		m.handedOff(im.handoffs, accepted)
	}
	switch {
	case handBack:
		m.decisions[DecisionHandedBack].Inc()
	case bySID:
		m.decisions[DecisionSID].Inc()
	default:
		m.decisions[DecisionBalanced].Inc()
	}
}

// peekStarted and peekEnded count a connection into and out of the slow
// path's wait for a request line.
func (m *Metrics) peekStarted() {
	if m != nil {
		m.peeking.Inc()
	}
}

func (m *Metrics) peekEnded() {
	if m != nil {
		m.peeking.Dec()
	}
}

// relayStarted and relayEnded count a TLS relay in and out.
func (m *Metrics) relayStarted() {
	if m != nil {
		m.relays.Inc()
	}
}

func (m *Metrics) relayEnded() {
	if m != nil {
		m.relays.Dec()
	}
}

// workerRestarted counts a respawn in slot.
func (m *Metrics) workerRestarted(slot int) {
	if m != nil {
		m.restarts.WithLabelValues(strconv.Itoa(slot)).Inc()
	}
}

// pruneHandoffs deletes the hand-off series of generations older than
// current with no live instance, so reloads do not grow the series set.
func (m *Metrics) pruneHandoffs(st *Status) {
	live := make(map[handoffKey]bool, len(st.Workers))
	for _, w := range st.Workers {
		live[handoffKey{w.Slot, w.Generation}] = true
	}
	m.seriesMu.Lock()
	defer m.seriesMu.Unlock()
	for k := range m.handoffSeries {
		if k.gen < st.Generation && !live[k] {
			delete(m.handoffSeries, k)
			m.handoffs.DeleteLabelValues(strconv.Itoa(k.slot), strconv.FormatUint(uint64(k.gen), 10))
		}
	}
}
