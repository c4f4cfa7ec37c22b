package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/redistest"
	"github.com/stickyd/stickyd/internal/testutil"
)

// startRedisHost starts a stickyd host of workers workers (the refapp with
// CLUSTER_OPS, no REDIS_URL: its workers use the cluster adapter) that
// joins the fleet on redisURL.
func startRedisHost(t *testing.T, redisURL string, workers int, flags ...string) *cluster {
	t.Helper()
	args := append([]string{"--redis", redisURL, "--metrics", "127.0.0.1:0", "--log-level", "debug"}, flags...)
	return startCluster(t, workers, args, "CLUSTER_OPS=1")
}

var nodeListeningRE = regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)

// nodeFleetServer runs testdata/redisnode/server.js (socket.io 4.8 with
// @socket.io/redis-adapter 8.3.0) on redisURL and returns its address.
func nodeFleetServer(t *testing.T, redisURL string) string {
	t.Helper()
	dir := filepath.Join(bins.root, "testdata", "redisnode")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@socket.io", "redis-adapter")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the fleet tests need `npm ci --prefix testdata/redisnode`: %v", err)
		}
		t.Skipf("testdata/redisnode/node_modules missing (run npm ci there): %v", err)
	}
	cmd := exec.Command("node", "server.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT=0", "REDIS_URL="+redisURL)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	return testutil.StartProcess(t, "node fleet server", cmd, out, nodeListeningRE)
}

// Two stickyd hosts (2 workers each) and one Node server on one Redis: the
// official client on every server drives each cluster operation; each
// reaches its targets on every host exactly once, binary intact
// (testdata/jsclient/fleet.test.mjs).
func TestFleetTwoHostsAndNode(t *testing.T) {
	requireNode(t)
	r := redistest.Start(t)
	a := startRedisHost(t, r.URL, 2)
	b := startRedisHost(t, r.URL, 2)
	node := nodeFleetServer(t, r.URL)
	waitFleetServers(t, 5, a, b)
	runNode(t, a.URL, 2, "fleet.test.mjs",
		"URLS="+strings.Join([]string{a.URL, b.URL, "http://" + node}, ","), "HOST_SERVERS=2,2,1")
}

// waitFleetServers polls until every host's workers count n servers
// (the hosts poll PUBSUB NUMSUB every second).
func waitFleetServers(t *testing.T, n int, hosts ...*cluster) {
	t.Helper()
	for _, h := range hosts {
		c, err := dialSIO(h.Addr)
		if err != nil {
			t.Fatal(err)
		}
		testutil.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			a, err := c.EmitAck(5*time.Second, "op-server-count")
			if err != nil {
				return err
			}
			if string(a) != fmt.Sprintf("[%d]", n) {
				return fmt.Errorf("%s: server count %s, want %d", h.Addr, a, n)
			}
			return nil
		})
		c.Close()
	}
}
