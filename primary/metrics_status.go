package primary

import (
	"errors"
	"os"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stickyd/stickyd/httphead"
)

// Descriptions of the gauges read from Supervisor.Status at scrape time.
var (
	descWorkers = prometheus.NewDesc("stickyd_workers",
		"Live worker instances, by state.", []string{"state"}, nil)
	descSessions = prometheus.NewDesc("stickyd_worker_sessions",
		"Live sessions of a worker, from its latest Load report.", []string{"slot", "generation"}, nil)
	descConns = prometheus.NewDesc("stickyd_worker_connections",
		"Open connections of a worker, from its latest Load report.", []string{"slot", "generation"}, nil)
	descInflight = prometheus.NewDesc("stickyd_worker_handoffs_in_flight",
		"Connections handed to a worker and not yet reported received.", []string{"slot", "generation"}, nil)
	descGeneration = prometheus.NewDesc("stickyd_reload_generation",
		"Current reload generation (0 until the first reload).", nil, nil)
	descReady = prometheus.NewDesc("stickyd_ready",
		"1 when at least one worker of the current generation is ready (what /readyz reports), else 0.", nil, nil)
)

// reportedStates are the states stickyd_workers always reports (0 when
// no instance is in one), so that the series do not come and go.
var reportedStates = [...]State{Starting, Ready, Draining}

// statusCollector exports the Supervisor's Status as gauges. Before
// attach it exports nothing but stickyd_ready 0.
type statusCollector struct{ m *Metrics }

var _ prometheus.Collector = statusCollector{}

// Describe implements prometheus.Collector.
func (c statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWorkers, descSessions, descConns, descInflight, descGeneration, descReady} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. It takes the routing lock once
// (Supervisor.Status) and prunes the hand-off series of gone generations.
func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.m.source.Load()
	if src == nil {
		ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, 0)
		return
	}
	st := src.status()
	var byState [Gone + 1]int
	type load struct{ sessions, conns, inflight int64 }
	loads := make(map[handoffKey]*load, len(st.Workers))
	var keys []handoffKey // in Status order
	for _, w := range st.Workers {
		if w.State >= 0 && w.State <= Gone {
			byState[w.State]++
		}
		// Instances sharing slot and generation (one exiting, its
		// respawn starting) are summed: one series each.
		k := handoffKey{w.Slot, w.Generation}
		l := loads[k]
		if l == nil {
			l = &load{}
			loads[k] = l
			keys = append(keys, k)
		}
		l.sessions += w.Sessions
		l.conns += w.Conns
		l.inflight += max(w.Inflight, 0)
	}
	for _, k := range keys {
		l := loads[k]
		slot, gen := strconv.Itoa(k.slot), strconv.FormatUint(uint64(k.gen), 10)
		ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(l.sessions), slot, gen)
		ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(l.conns), slot, gen)
		ch <- prometheus.MustNewConstMetric(descInflight, prometheus.GaugeValue, float64(l.inflight), slot, gen)
	}
	for _, state := range reportedStates {
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(byState[state]), state.String())
	}
	ch <- prometheus.MustNewConstMetric(descGeneration, prometheus.GaugeValue, float64(st.Generation))
	ready := 0.0
	if statusReady(&st) {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, ready)
	c.m.pruneHandoffs(&st)
}

// statusReady reports whether at least one worker of the current
// generation is ready.
func statusReady(st *Status) bool {
	for _, w := range st.Workers {
		if w.State == Ready && w.Generation == st.Generation {
			return true
		}
	}
	return false
}

// rejectDecision classifies an error of peekRequestLine as rejectClient
// answers it.
func rejectDecision(err error) Decision {
	switch {
	case errors.Is(err, httphead.ErrLineTooLong):
		return DecisionURITooLong
	case errors.Is(err, httphead.ErrBadRequest):
		return DecisionBadRequest
	case errors.Is(err, httphead.ErrTLS), errors.Is(err, httphead.ErrHTTP2):
		return DecisionTLSOrH2
	case errors.Is(err, os.ErrDeadlineExceeded):
		return DecisionPeekTimeout
	}
	return DecisionClientClosed
}
