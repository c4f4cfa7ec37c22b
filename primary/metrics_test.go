package primary

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stickyd/stickyd/httphead"
	"github.com/stickyd/stickyd/internal/testutil"
)

func TestDecisionString(t *testing.T) {
	tests := []struct {
		d    Decision
		want string
	}{
		{DecisionSID, "sid"},
		{DecisionBalanced, "balanced"},
		{DecisionUnknownSID, "unknown_sid"},
		{DecisionHandedBack, "handed_back"},
		{DecisionBadRequest, "rejected_bad_request"},
		{DecisionURITooLong, "rejected_uri_too_long"},
		{DecisionNoWorker, "no_worker_503"},
		{DecisionPeekTimeout, "peek_timeout"},
		{DecisionTLSOrH2, "tls_or_h2"},
		{DecisionClientClosed, "client_closed"},
		{DecisionTLSHandshake, "tls_handshake_failed"},
		{DecisionPeekLimit, "refused_peek_limit"},
		{numDecisions, "Decision(12)"},
		{-1, "Decision(-1)"},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("Decision(%d).String() = %q, want %q", int(tt.d), got, tt.want)
		}
	}
}

func TestRejectDecision(t *testing.T) {
	tests := []struct {
		err  error
		want Decision
	}{
		{fmt.Errorf("x: %w", httphead.ErrLineTooLong), DecisionURITooLong},
		{fmt.Errorf("x: %w", httphead.ErrBadRequest), DecisionBadRequest},
		{httphead.ErrTLS, DecisionTLSOrH2},
		{httphead.ErrHTTP2, DecisionTLSOrH2},
		{fmt.Errorf("peek: %w", os.ErrDeadlineExceeded), DecisionPeekTimeout},
		{io.EOF, DecisionClientClosed},
		{errors.New("connection reset"), DecisionClientClosed},
	}
	for _, tt := range tests {
		if got := rejectDecision(tt.err); got != tt.want {
			t.Errorf("rejectDecision(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestNilMetrics: every hook is a no-op on a nil *Metrics.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.attach(1, nil, nil)
	m.accepted()
	m.routed(DecisionSID)
	m.rejected(httphead.ErrTLS)
	m.acceptPath(true)
	im := m.forInstance(1, 0)
	if im.handoffs != nil {
		t.Errorf("nil Metrics resolved a counter")
	}
	m.handedOff(im.handoffs, m.now())
	m.handoffDone(im, true, false, m.now(), nil)
	m.workerRestarted(1)
	m.peekStarted()
	m.peekEnded()
	m.relayStarted()
	m.relayEnded()
	if m.now() != 0 {
		t.Errorf("nil Metrics read the clock")
	}
	if m.Healthy() || m.Ready() {
		t.Errorf("nil Metrics reports healthy or ready")
	}
}

// TestMetricsExposition drives every hook once and checks the scraped
// values, through a real HTTP server, the official parser and promtool.
func TestMetricsExposition(t *testing.T) {
	m := NewMetrics()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()

	m.accepted()
	m.accepted()
	m.acceptPath(true)
	m.acceptPath(false)
	m.acceptPath(true)
	m.routed(DecisionNoWorker)
	m.rejected(fmt.Errorf("x: %w", httphead.ErrBadRequest))
	m.rejected(httphead.ErrHTTP2)
	im1, im2 := m.forInstance(1, 0), m.forInstance(2, 0)
	m.handoffDone(im1, true, false, m.now()-stamp(50*time.Microsecond), nil) // sid
	m.handoffDone(im1, false, false, m.now(), nil)                           // balanced
	m.handoffDone(im2, false, false, m.now(), nil)                           // balanced
	m.handoffDone(im2, true, true, 0, nil)                                   // hand-back: no latency
	m.handoffDone(im2, false, false, m.now(), errors.New("link broken"))     // balanced, failed

	fams := testutil.Scrape(t, srv.URL+"/metrics")
	testutil.WantMetric(t, fams, 2, "stickyd_connections_accepted_total")
	testutil.WantMetric(t, fams, 2, "stickyd_accept_path_total", "path", "fast")
	testutil.WantMetric(t, fams, 1, "stickyd_accept_path_total", "path", "slow")
	for _, tt := range []struct {
		d    Decision
		want float64
	}{
		{DecisionSID, 1}, {DecisionBalanced, 3}, {DecisionHandedBack, 1}, {DecisionUnknownSID, 0},
		{DecisionNoWorker, 1}, {DecisionBadRequest, 1}, {DecisionTLSOrH2, 1}, {DecisionURITooLong, 0},
		{DecisionPeekTimeout, 0}, {DecisionClientClosed, 0},
	} {
		testutil.WantMetric(t, fams, tt.want, "stickyd_routing_decisions_total", "decision", tt.d.String())
	}
	testutil.WantMetric(t, fams, 2, "stickyd_handoffs_total", "slot", "1", "generation", "0")
	testutil.WantMetric(t, fams, 2, "stickyd_handoffs_total", "slot", "2", "generation", "0")
	testutil.WantMetric(t, fams, 1, "stickyd_handoff_failures_total")
	testutil.WantMetric(t, fams, 3, "stickyd_handoff_duration_seconds")
	testutil.WantMetric(t, fams, 0, "stickyd_ready")
	for _, name := range []string{"go_goroutines", "process_open_fds", "promhttp_metric_handler_requests_total"} {
		if fams[name] == nil {
			t.Errorf("no %s family", name)
		}
	}
	// The smallest bucket resolves a ~10 µs hand-off.
	h := fams["stickyd_handoff_duration_seconds"].GetMetric()[0].GetHistogram()
	if got := h.GetBucket()[0].GetUpperBound(); got != 10e-6 {
		t.Errorf("first bucket bound %v, want 1e-05", got)
	}

	// Without a running Supervisor: not healthy, not ready.
	for _, tt := range []struct {
		path string
		want int
	}{{"/healthz", 503}, {"/readyz", 503}, {"/nope", 404}} {
		if got := testutil.HTTPStatus(t, srv.URL+tt.path); got != tt.want {
			t.Errorf("GET %s: status %d, want %d", tt.path, got, tt.want)
		}
	}
	resp, err := http.Post(srv.URL+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: status %d, want 405", resp.StatusCode)
	}
}

// BenchmarkMetricsHandoff is the cost the metrics add to one hand-off
// (decision counter, per-worker counter, latency histogram), against the
// nil Metrics the primary uses without --metrics.
func BenchmarkMetricsHandoff(b *testing.B) {
	for _, tt := range []struct {
		name string
		m    *Metrics
	}{{"off", nil}, {"on", NewMetrics()}} {
		b.Run(tt.name, func(b *testing.B) {
			im := tt.m.forInstance(1, 0)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					accepted := tt.m.now()
					tt.m.accepted()
					tt.m.handoffDone(im, false, false, accepted, nil)
				}
			})
		})
	}
}

// TestPruneHandoffs: hand-off series of an older generation stay while an
// instance of it lives (draining) and go once none does, so reloads do not
// grow the series set; the current generation's stay even when idle.
func TestPruneHandoffs(t *testing.T) {
	m := NewMetrics()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	for _, k := range []handoffKey{{1, 0}, {2, 0}, {1, 1}, {2, 1}} {
		m.handedOff(m.forInstance(k.slot, k.gen).handoffs, 0)
	}
	series := func() []string {
		var got []string
		for _, s := range testutil.Scrape(t, srv.URL+"/metrics")["stickyd_handoffs_total"].GetMetric() {
			var slot, gen string
			for _, lp := range s.GetLabel() {
				switch lp.GetName() {
				case "slot":
					slot = lp.GetValue()
				case "generation":
					gen = lp.GetValue()
				}
			}
			got = append(got, slot+"/"+gen)
		}
		return got
	}
	tests := []struct {
		name string
		st   Status
		want []string
	}{
		{"slot 1 of generation 0 still draining", Status{Generation: 1, Workers: []WorkerStatus{
			{Slot: 1, Generation: 0, State: Draining}, {Slot: 1, Generation: 1}, {Slot: 2, Generation: 1},
		}}, []string{"1/0", "1/1", "2/1"}},
		{"generation 0 gone", Status{Generation: 1, Workers: []WorkerStatus{{Slot: 2, Generation: 1}}}, []string{"1/1", "2/1"}},
	}
	for _, tt := range tests {
		m.pruneHandoffs(&tt.st)
		if got := series(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: series %v, want %v", tt.name, got, tt.want)
		}
	}
}
