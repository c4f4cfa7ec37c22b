package main

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"runtime"
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
	goroutines := runtime.NumGoroutine()
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
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after stop, had %d", runtime.NumGoroutine(), goroutines)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if _, err := serveMetrics("256.0.0.1:1", primary.NewMetrics(), log); err == nil || !strings.HasPrefix(err.Error(), "metrics: ") {
		t.Errorf("bad address: %v, want a metrics: error", err)
	}
}

// TestMetricsFlagErrors: a --metrics value that is not host:port is a
// usage error (exit 2); one that cannot be listened on stops stickyd
// (exit 1) before any worker starts.
func TestMetricsFlagErrors(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{[]string{"--metrics", "9100", "--", "/bin/true"}, 2, "--metrics: address 9100: missing port in address"},
		{[]string{"--metrics", "256.0.0.1:1", "--listen", "127.0.0.1:0", "--", "/bin/true"}, 1, "cannot serve metrics"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(tt.args, &stdout, &stderr)
		if got, want := code, tt.wantCode; got != want {
			t.Errorf("%v: exit %d, want %d", tt.args, got, want)
		}
		if !strings.Contains(stderr.String(), tt.wantErr) {
			t.Errorf("%v: stderr %q, want it to contain %q", tt.args, stderr.String(), tt.wantErr)
		}
		if strings.Contains(stderr.String(), "worker started") {
			t.Errorf("%v: a worker started: %q", tt.args, stderr.String())
		}
	}
}
