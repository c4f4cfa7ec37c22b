package primary

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stickyd/stickyd/httphead"
)

// scrape GETs url (a /metrics endpoint), validates the text exposition
// with the official parser and, when installed, `promtool check metrics`,
// and returns the parsed families.
func scrape(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scrape: content type %q, want text/plain", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("scrape: exposition does not parse: %v\n%s", err, body)
	}
	promtoolCheck(t, body)
	return fams
}

// promtoolCheck runs `promtool check metrics` on body when promtool is
// installed (apt-get install prometheus); a lint or format problem fails.
func promtoolCheck(t testing.TB, body []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		return
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// metricValue returns the value of the series of family name whose labels
// include labels (name=value pairs); the count for a histogram. ok is
// false when there is no such series.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) (v float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// wantValue fails the test unless the series has value want.
func wantValue(t testing.TB, fams map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	t.Helper()
	got, ok := metricValue(fams, name, labels...)
	if !ok {
		t.Errorf("%s%v: no such series", name, labels)
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// mustValue is metricValue, -1 when the series is missing.
func mustValue(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	v, ok := metricValue(fams, name, labels...)
	if !ok {
		return -1
	}
	return v
}

// getStatus GETs url and returns its status code.
func getStatus(t testing.TB, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

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

	fams := scrape(t, srv.URL+"/metrics")
	wantValue(t, fams, 2, "stickyd_connections_accepted_total")
	wantValue(t, fams, 2, "stickyd_accept_path_total", "path", "fast")
	wantValue(t, fams, 1, "stickyd_accept_path_total", "path", "slow")
	for _, tt := range []struct {
		d    Decision
		want float64
	}{
		{DecisionSID, 1}, {DecisionBalanced, 3}, {DecisionHandedBack, 1}, {DecisionUnknownSID, 0},
		{DecisionNoWorker, 1}, {DecisionBadRequest, 1}, {DecisionTLSOrH2, 1}, {DecisionURITooLong, 0},
		{DecisionPeekTimeout, 0}, {DecisionClientClosed, 0},
	} {
		wantValue(t, fams, tt.want, "stickyd_routing_decisions_total", "decision", tt.d.String())
	}
	wantValue(t, fams, 2, "stickyd_handoffs_total", "slot", "1", "generation", "0")
	wantValue(t, fams, 2, "stickyd_handoffs_total", "slot", "2", "generation", "0")
	wantValue(t, fams, 1, "stickyd_handoff_failures_total")
	wantValue(t, fams, 3, "stickyd_handoff_duration_seconds")
	wantValue(t, fams, 0, "stickyd_ready")
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
		if got := getStatus(t, srv.URL+tt.path); got != tt.want {
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
		for _, s := range scrape(t, srv.URL+"/metrics")["stickyd_handoffs_total"].GetMetric() {
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
