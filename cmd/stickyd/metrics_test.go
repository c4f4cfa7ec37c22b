package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/primary"
)

// TestServeMetrics: the metrics server answers /metrics, /healthz (503
// without a running Supervisor) and 404 elsewhere; stop closes its port and
// leaves no goroutine behind; a bad address is an error.
func TestServeMetrics(t *testing.T) {
	goroutines := testutil.TakeBaseline(t, testutil.GoroutinesOnly(), testutil.Within(5*time.Second, 10*time.Millisecond))
	var logs strings.Builder
	log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info})
	stop, err := serveMetrics("127.0.0.1:0", primary.NewMetrics(), log)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`metrics_url=(http://127\.0\.0\.1:\d+)/metrics`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no metrics_url in %q", logs.String())
	}
	base := m[1]
	for _, tt := range []struct {
		path     string
		want     int
		wantBody string
	}{
		{"/metrics", 200, "stickyd_connections_accepted_total 0"},
		{"/healthz", 503, "not running"},
		{"/readyz", 503, "not ready"},
		{"/", 404, ""},
	} {
		resp, err := http.Get(base + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || !strings.Contains(string(body), tt.wantBody) {
			t.Errorf("GET %s: %d %.80q, want %d containing %q", tt.path, resp.StatusCode, body, tt.want, tt.wantBody)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	stop()
	// Not a GET: another package's test may bind the freed port.
	if held, err := testutil.HoldsListener(strings.TrimPrefix(base, "http://")); held || err != nil {
		t.Errorf("metrics listener still open after stop (%v)", err)
	}
	goroutines.Check(t)

	if _, err := serveMetrics("256.0.0.1:1", primary.NewMetrics(), log); err == nil || !strings.HasPrefix(err.Error(), "metrics: ") {
		t.Errorf("bad address: %v, want a metrics: error", err)
	}
}
