package e2e

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// handshake opens an Engine.IO polling session and returns the response.
func handshake(url string) (string, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(url + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "0{") {
		return "", fmt.Errorf("status %d: %q", resp.StatusCode, body)
	}
	return string(body), nil
}

// handshakes makes n handshakes and fails the test on the first error.
func handshakes(t *testing.T, url string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := handshake(url); err != nil {
			t.Fatalf("handshake %d: %v", i, err)
		}
	}
}

// waitLog polls until the cluster's log contains s.
func waitLog(t *testing.T, c *cluster, s string) {
	t.Helper()
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !strings.Contains(c.Logs(), s) {
			return fmt.Errorf("no %q in the log yet", s)
		}
		return nil
	})
}

func badApp(name string) []string {
	return []string{"node", filepath.Join(nodeAppDir(), "bad", name)}
}

// A line on the channel that is not JSON is logged and skipped; the
// worker keeps serving.
func TestNodeWorkerWritesGarbage(t *testing.T) {
	c := startNodeApp(t, 1, stackLatest, nil, badApp("garbage.js"), "BAD=garbage")
	waitLog(t, c, "node worker sent a message stickyd cannot read; skipped")
	handshakes(t, c.URL, 5)
	if strings.Contains(c.Logs(), "restarting worker") {
		t.Fatalf("worker restarted over one bad line\n%s", c.Logs())
	}
}

// In advanced mode a V8 value outside stickyd's subset (a Date, a Map) is
// logged and skipped; the worker keeps serving.
func TestNodeWorkerSendsV8OutsideSubset(t *testing.T) {
	c := startNodeApp(t, 1, stackLatest, []string{"--node-serialization", "advanced"}, badApp("garbage.js"), "BAD=date")
	waitLog(t, c, "V8 value outside the supported subset")
	handshakes(t, c.URL, 5)
	if strings.Contains(c.Logs(), "restarting worker") {
		t.Fatalf("worker restarted over one bad message\n%s", c.Logs())
	}
}

// A worker that exits before it is ready is respawned (with back-off)
// and never gets a connection: every session goes to the healthy one.
func TestNodeWorkerExitsBeforeReady(t *testing.T) {
	// --workers 2 overrides launch's 1, which is how many become ready
	c := startNodeApp(t, 1, stackLatest, []string{"--workers", "2"}, badApp("exit-early.js"))
	handshakes(t, c.URL, 20)
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := strings.Count(c.Logs(), `status="exit status 3"`); n < 2 {
			return fmt.Errorf("slot 2 exited %d times, want it respawned and exited again", n)
		}
		return nil
	})
}

// fakeNodeWorker is a worker that speaks the channel by hand: it says it
// is ready, then writes what and sleeps. It never answers a handle.
func fakeNodeWorker(what string) []string {
	return []string{"sh", "-c", `printf '{"type":"stickyd:ready"}\n` + what + `' >&3; exec sleep 60`}
}

// A worker that never acknowledges a handle is restarted after
// --node-ack-timeout; the client's connection is closed, not left hanging.
func TestNodeWorkerNeverAcks(t *testing.T) {
	c := startNodeApp(t, 1, stackLatest, []string{"--worker-kind", "node", "--node-ack-timeout", "300ms"}, fakeNodeWorker(""))
	start := time.Now()
	if _, err := handshake(c.URL); err == nil {
		t.Fatal("a handshake succeeded without a worker to answer it")
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("the client waited %v", d)
	}
	waitLog(t, c, "node worker did not acknowledge a connection in time; restarting it")
	waitLog(t, c, "restarting worker")
}

// Connections queued behind a handle that is never acknowledged are not
// lost with the worker: they are routed again (here no worker is ready
// yet, so they get stickyd's 503 instead of a reset).
func TestNodeQueuedConnectionsRerouted(t *testing.T) {
	c := startNodeApp(t, 1, stackLatest, []string{"--worker-kind", "node", "--node-ack-timeout", "500ms"}, fakeNodeWorker(""))
	results := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() { _, err := handshake(c.URL); results <- err }()
	}
	for i := 0; i < 4; i++ {
		<-results
	}
	waitLog(t, c, "connection queued for a Node worker that is gone; routing it again")
}

// Bytes that put an advanced channel out of step (a frame longer than
// nodeipc.MaxFrame) end the channel: the worker is restarted.
func TestNodeWorkerBreaksFraming(t *testing.T) {
	// {type:"stickyd:ready"} in V8's format, then a length of 4 GiB - 1
	ready := `\0\0\0\032\377\017o"\004type"\015stickyd:ready{\001`
	c := startNodeApp(t, 1, stackLatest, []string{"--worker-kind", "node", "--node-serialization", "advanced"},
		[]string{"sh", "-c", `printf '` + ready + `\377\377\377\377' >&3; exec sleep 60`})
	waitLog(t, c, "node channel failed; restarting worker")
	waitLog(t, c, "frame too large")
}

// Metrics with Node workers: ready workers, sessions from the sid table,
// hand-offs, and an unknown sid answered 400 by stickyd after its wait.
func TestNodeMetrics(t *testing.T) {
	c := startNodeCluster(t, 2, stackLatest, []string{"--metrics", "127.0.0.1:0", "--node-sids", "random", "--node-sid-wait", "50ms"})
	base := metricsBase(t, c)
	for i := 0; i < 3; i++ {
		if _, err := handshake(c.URL); err != nil {
			t.Fatal(err)
		}
	}
	if code := testutil.HTTPStatus(t, c.URL+"/socket.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA"); code != 400 {
		t.Fatalf("unknown sid: status %d, want 400", code)
	}
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		fams := testutil.Scrape(t, base+"/metrics")
		if got := testutil.MetricSum(fams, "stickyd_workers", "state", "ready"); got != 2 {
			return fmt.Errorf("stickyd_workers{state=ready} = %v", got)
		}
		if got := testutil.MetricSum(fams, "stickyd_worker_sessions"); got != 3 {
			return fmt.Errorf("stickyd_worker_sessions = %v, want 3", got)
		}
		if got := testutil.MetricSum(fams, "stickyd_routing_decisions_total", "decision", "unknown_sid"); got != 1 {
			return fmt.Errorf("unknown_sid decisions = %v, want 1", got)
		}
		return nil
	})
}
