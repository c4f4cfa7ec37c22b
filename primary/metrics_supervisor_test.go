package primary

import (
	"bufio"
	"fmt"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
)

// TestMetricsSupervisor drives a real Supervisor (fake worker processes)
// with each kind of connection and checks every counter moved by exactly
// what was sent, the gauges, the restart counter and /healthz, /readyz.
func TestMetricsSupervisor(t *testing.T) {
	m := NewMetrics()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	h := startSupervisor(t, "ok", Options{Workers: 2, Metrics: m, PeekTimeout: time.Second, RestartInitial: 10 * time.Millisecond}, 2)
	for _, tt := range []struct {
		path string
		want int
	}{{"/healthz", 200}, {"/readyz", 200}} {
		if got := testutil.HTTPStatus(t, srv.URL+tt.path); got != tt.want {
			t.Errorf("GET %s: status %d, want %d", tt.path, got, tt.want)
		}
	}

	var accepted, balanced, bySID float64
	for range 3 {
		if resp, _, err := h.get("/"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /: %v %v", resp, err)
		}
		accepted++
		balanced++
	}
	sids := make(map[uint32]string)
	for len(sids) < 2 {
		if balanced > 200 {
			t.Fatal("sids of 2 instances not issued in 200 handshakes")
		}
		resp, body, err := h.get("/sid")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /sid: %v %v", resp, err)
		}
		accepted++
		balanced++
		id, _ := ipc.SIDInstance(body)
		sids[id] = body
	}
	// A fresh connection routed by sid.
	for _, sid := range sids {
		if _, body, err := h.get("/who?sid=" + sid); err != nil || !strings.HasPrefix(body, "instance=") {
			t.Fatalf("sid %s: %q %v", sid, body, err)
		}
		accepted++
		bySID++
		break
	}
	// Unknown sid, bad request line, TLS, a silent client, a closed one.
	for _, req := range []string{
		"GET /?sid=" + ipc.EncodeSID(99999, [17]byte{}) + " HTTP/1.1\r\n\r\n",
		"hello there\r\n\r\n",
		"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
		"",
	} {
		if _, err := h.rawExchange(req); err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		accepted++
	}
	closed, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	accepted++

	want := map[Decision]float64{
		DecisionBalanced: balanced, DecisionSID: bySID, DecisionHandedBack: 0,
		DecisionUnknownSID: 1, DecisionBadRequest: 1, DecisionTLSOrH2: 1,
		DecisionPeekTimeout: 1, DecisionClientClosed: 1,
		DecisionURITooLong: 0, DecisionNoWorker: 0,
	}
	var fams = testutil.Scrape(t, srv.URL+"/metrics")
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		fams = testutil.Scrape(t, srv.URL+"/metrics")
		for d, w := range want {
			if got, _ := testutil.MetricValue(fams, "stickyd_routing_decisions_total", "decision", d.String()); got != w {
				return fmt.Errorf("decision %s: %v, want %v", d, got, w)
			}
		}
		return nil
	})
	testutil.WantMetric(t, fams, accepted, "stickyd_connections_accepted_total")
	testutil.WantMetric(t, fams, balanced+bySID, "stickyd_handoff_duration_seconds")
	var handoffs float64
	for slot := 1; slot <= 2; slot++ {
		v, ok := testutil.MetricValue(fams, "stickyd_handoffs_total", "slot", strconv.Itoa(slot), "generation", "0")
		if !ok {
			t.Errorf("no hand-off series for slot %d", slot)
		}
		handoffs += v
	}
	if want := balanced + bySID; handoffs != want {
		t.Errorf("hand-offs over both slots: %v, want %v", handoffs, want)
	}
	testutil.WantMetric(t, fams, 0, "stickyd_handoff_failures_total")
	testutil.WantMetric(t, fams, 2, "stickyd_workers", "state", "ready")
	testutil.WantMetric(t, fams, 0, "stickyd_workers", "state", "starting")
	testutil.WantMetric(t, fams, 0, "stickyd_reload_generation")
	testutil.WantMetric(t, fams, 1, "stickyd_ready")
	testutil.WantMetric(t, fams, 0, "stickyd_worker_restarts_total", "slot", "1")
	if _, ok := testutil.MetricValue(fams, "stickyd_worker_sessions", "slot", "1", "generation", "0"); !ok {
		t.Error("no sessions gauge for slot 1")
	}

	// A worker killed: its slot's restart counter moves.
	w, _ := h.instanceOf(1)
	if err := syscall.Kill(w.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		fams := testutil.Scrape(t, srv.URL+"/metrics")
		if got, _ := testutil.MetricValue(fams, "stickyd_worker_restarts_total", "slot", "1"); got != 1 {
			return fmt.Errorf("slot 1 restarts %v, want 1", got)
		}
		if got, _ := testutil.MetricValue(fams, "stickyd_workers", "state", "ready"); got != 2 {
			return fmt.Errorf("%v workers ready, want 2", got)
		}
		return nil
	})

	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if got := testutil.HTTPStatus(t, srv.URL+path); got != 503 {
			t.Errorf("GET %s after shutdown: status %d, want 503", path, got)
		}
	}
}

// TestMetricsHandBack: a kept-alive connection whose first request is
// routed by sid and whose second names the other instance counts one sid
// decision, one handed_back and two hand-offs, only the first timed.
func TestMetricsHandBack(t *testing.T) {
	m := NewMetrics()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	h := startSupervisor(t, "ok", Options{Workers: 2, Metrics: m}, 2)
	sids := sidsByInstance(t, h, 2)
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for id, sid := range sids {
		_, body, err := roundTrip(c, br, "/who?sid="+sid)
		if err != nil || body != fmt.Sprintf("instance=%d", id) {
			t.Fatalf("sid of %d: %q %v", id, body, err)
		}
	}
	// A worker answers before the primary has counted its hand-off: poll.
	// Every fresh connection is timed; the hand-back is not.
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		fams := testutil.Scrape(t, srv.URL+"/metrics")
		decision := func(d Decision) float64 {
			return testutil.Metric(fams, "stickyd_routing_decisions_total", "decision", d.String())
		}
		balanced := decision(DecisionBalanced)
		for _, tt := range []struct {
			what      string
			got, want float64
		}{
			{"sid decisions", decision(DecisionSID), 1},
			{"handed_back decisions", decision(DecisionHandedBack), 1},
			{"timed hand-offs", testutil.Metric(fams, "stickyd_handoff_duration_seconds"), balanced + 1},
			{"accepted", testutil.Metric(fams, "stickyd_connections_accepted_total"), balanced + 1},
			{"hand-offs", testutil.Metric(fams, "stickyd_handoffs_total", "slot", "1") + testutil.Metric(fams, "stickyd_handoffs_total", "slot", "2"), balanced + 2},
		} {
			if tt.got != tt.want {
				return fmt.Errorf("%s: %v, want %v", tt.what, tt.got, tt.want)
			}
		}
		return nil
	})
}

// TestReadyzNoWorker: /readyz is 503 while no worker is ready, /healthz 200.
func TestReadyzNoWorker(t *testing.T) {
	m := NewMetrics()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	h := startSupervisor(t, "noready", Options{Workers: 1, Metrics: m, StartTimeout: time.Minute}, 0)
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if w, ok := h.instanceOf(1); !ok || w.PID == 0 {
			return fmt.Errorf("worker not spawned")
		}
		return nil
	})
	for _, tt := range []struct {
		path string
		want int
	}{{"/healthz", 200}, {"/readyz", 503}} {
		if got := testutil.HTTPStatus(t, srv.URL+tt.path); got != tt.want {
			t.Errorf("GET %s: status %d, want %d", tt.path, got, tt.want)
		}
	}
	if resp, _, err := h.get("/"); err != nil || resp.StatusCode != 503 {
		t.Fatalf("GET /: %v %v, want 503", resp, err)
	}
	fams := testutil.Scrape(t, srv.URL+"/metrics")
	testutil.WantMetric(t, fams, 1, "stickyd_routing_decisions_total", "decision", "no_worker_503")
	testutil.WantMetric(t, fams, 1, "stickyd_workers", "state", "starting")
	testutil.WantMetric(t, fams, 0, "stickyd_ready")
}

// BenchmarkHandoffMetrics is BenchmarkHandoff (one request per fresh
// connection through the primary to a worker process) without and with
// metrics: the difference is what metrics cost a real hand-off.
func BenchmarkHandoffMetrics(b *testing.B) {
	for _, tt := range []struct {
		name string
		m    *Metrics
	}{{"off", nil}, {"on", NewMetrics()}} {
		b.Run(tt.name, func(b *testing.B) {
			h := startSupervisor(b, "listener", Options{Workers: 1, Metrics: tt.m}, 1)
			benchClient(b, h.addr, 1)
		})
	}
}
