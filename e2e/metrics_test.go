package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/stickyd/stickyd/internal/testutil"
)

var metricsURLRE = regexp.MustCompile(`metrics_url=(http://127\.0\.0\.1:\d+)/metrics|"metrics_url":"(http://127\.0\.0\.1:\d+)/metrics"`)

// metricsBase returns http://127.0.0.1:PORT of the cluster's --metrics
// server, from its log line.
func metricsBase(t *testing.T, c *cluster) string {
	t.Helper()
	m := metricsURLRE.FindStringSubmatch(c.Logs())
	if m == nil {
		t.Fatalf("no metrics_url in the log\n%s", c.Logs())
	}
	return m[1] + m[2]
}

// TestMetricsEndpoint runs stickyd --metrics with the reference app and
// checks that a handshake, a request with a known sid and one with an
// unknown sid move their routing counters, that hand-offs are timed, that
// the sessions gauge follows an open session, and /healthz and /readyz.
func TestMetricsEndpoint(t *testing.T) {
	c := startCluster(t, 2, []string{"--metrics", "127.0.0.1:0"})
	base := metricsBase(t, c)
	for _, path := range []string{"/healthz", "/readyz"} {
		if got := testutil.HTTPStatus(t, base+path); got != 200 {
			t.Errorf("GET %s: status %d, want 200", path, got)
		}
	}
	decision := func(fams map[string]*dto.MetricFamily, d string) float64 {
		return testutil.MetricSum(fams, "stickyd_routing_decisions_total", "decision", d)
	}
	before := testutil.Scrape(t, base+"/metrics")
	if got := testutil.MetricSum(before, "stickyd_workers", "state", "ready"); got != 2 {
		t.Errorf("stickyd_workers{state=ready} = %v, want 2", got)
	}

	pc := newPollClient(c.URL, 1)
	defer pc.close()
	s := pc.open(t) // one kept-alive connection: one balanced decision
	fresh := newPollClient(c.URL, 1)
	defer fresh.close()
	(&session{pc: fresh, sid: s.sid}).whoami(t) // a fresh connection with the sid
	resp, err := http.Get(c.URL + "/socket.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("unknown sid: status %d, want 400", resp.StatusCode)
	}

	// A worker answers before the primary has counted its hand-off: poll.
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		after := testutil.Scrape(t, base+"/metrics")
		moved := func(d string) float64 { return decision(after, d) - decision(before, d) }
		switch {
		case moved("balanced") != 1:
			return fmt.Errorf("balanced moved by %v, want 1", moved("balanced"))
		case moved("sid") < 1:
			return fmt.Errorf("sid moved by %v, want >= 1", moved("sid"))
		case moved("unknown_sid") != 1:
			return fmt.Errorf("unknown_sid moved by %v, want 1", moved("unknown_sid"))
		case testutil.MetricSum(after, "stickyd_handoff_duration_seconds") < 2:
			return fmt.Errorf("hand-off histogram count %v, want >= 2", testutil.MetricSum(after, "stickyd_handoff_duration_seconds"))
		case testutil.MetricSum(after, "stickyd_handoffs_total") < 2:
			return fmt.Errorf("hand-offs %v, want >= 2", testutil.MetricSum(after, "stickyd_handoffs_total"))
		case testutil.MetricSum(after, "stickyd_connections_accepted_total")-testutil.MetricSum(before, "stickyd_connections_accepted_total") < 3:
			return fmt.Errorf("accepted moved by less than 3")
		}
		return nil
	})
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if got := testutil.MetricSum(testutil.Scrape(t, base+"/metrics"), "stickyd_worker_sessions"); got != 1 {
			return fmt.Errorf("stickyd_worker_sessions sum %v with one session open, want 1", got)
		}
		return nil
	})
	s.post(t, "1") // Engine.IO close
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if got := testutil.MetricSum(testutil.Scrape(t, base+"/metrics"), "stickyd_worker_sessions"); got != 0 {
			return fmt.Errorf("stickyd_worker_sessions sum %v after close, want 0", got)
		}
		return nil
	})
}

// perRequestLogRE matches the primary's per-connection lines, which must
// not appear at the default level.
var perRequestLogRE = regexp.MustCompile(`unknown sid|bad request line|closing connection|request line too long|no request line in time`)

// TestInfoLogHasNoPerRequestLines: at --log-level info, routed, rejected
// and unknown-sid connections add no log line.
func TestInfoLogHasNoPerRequestLines(t *testing.T) {
	c := startCluster(t, 1, []string{"--log-level", "info", "--metrics", "127.0.0.1:0"})
	base := metricsBase(t, c)
	// The worker's own start-up line comes through its stderr pipe and may
	// follow the ready message: wait for it before counting.
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !strings.Contains(c.Logs(), "refapp: serving") {
			return fmt.Errorf("worker start-up line not logged yet")
		}
		return nil
	})
	lines := strings.Count(c.Logs(), "\n")
	const n = 5
	for range n {
		for _, req := range []string{
			"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", // no session: shutdown stays prompt
			"GET /socket.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\n\r\n",
			"hello there\r\n\r\n",
			"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
		} {
			conn, err := net.Dial("tcp", c.Addr)
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(conn, req)
			io.Copy(io.Discard, conn)
			conn.Close()
		}
	}
	// Every connection has been routed or answered once the counters say
	// so; only then is the log complete.
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		fams := testutil.Scrape(t, base+"/metrics")
		var got float64
		for _, d := range []string{"balanced", "unknown_sid", "rejected_bad_request", "tls_or_h2"} {
			got += testutil.MetricSum(fams, "stickyd_routing_decisions_total", "decision", d)
		}
		if got < 4*n {
			return fmt.Errorf("%v connections routed, want %d", got, 4*n)
		}
		return nil
	})
	logs := c.Logs()
	if m := perRequestLogRE.FindString(logs); m != "" {
		t.Errorf("per-request line %q at info level", m)
	}
	if got := strings.Count(logs, "\n") - lines; got > 0 {
		t.Errorf("%d log lines for %d requests at info level, want 0:\n%s", got, 4*n, logs)
	}
}
