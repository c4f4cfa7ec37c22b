package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// nodeAppDir is the Node app the TestNode* tests run as stickyd's workers.
func nodeAppDir() string { return filepath.Join(bins.root, "testdata", "nodeapp") }

// requireNodeApp skips (or, under CI, fails) when node or the app's npm
// packages are missing.
func requireNodeApp(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(nodeAppDir(), "node_modules", "@socket.io", "sticky"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Node worker tests need node and `npm ci` in testdata/nodeapp: %v", err)
		}
		t.Skipf("node or testdata/nodeapp/node_modules missing (run npm ci there): %v", err)
	}
}

// nodeStack picks the package versions app.js loads (versions.js).
type nodeStack struct{ sticky, adapter string }

var (
	stackLatest = nodeStack{"2", "0.3"} // @socket.io/sticky 2.0.1, cluster-adapter 0.3.0
	stackOld    = nodeStack{"1", "0.2"} // 1.0.4, 0.2.2
)

func (st nodeStack) env() []string {
	return []string{
		"NODE_OPTIONS=--require " + filepath.Join(nodeAppDir(), "versions.js"),
		"STICKY=" + st.sticky, "ADAPTER=" + st.adapter,
	}
}

// startNodeCluster runs `stickyd --workers n [flags] -- node app.js` with
// the stack st and env for the workers, and waits for every worker.
func startNodeCluster(t *testing.T, workers int, st nodeStack, flags []string, env ...string) *cluster {
	t.Helper()
	requireNodeApp(t)
	args := append([]string{"--listen", "127.0.0.1:0", "--control", controlPath(t)}, flags...)
	app := []string{"node", filepath.Join(nodeAppDir(), "app.js")}
	return launchApp(t, workers, nil, args, nil, app, append(st.env(), env...)...)
}

// runNodeClient runs one node:test file of testdata/nodeapp against url.
func runNodeClient(t *testing.T, url string, workers int, file string, env ...string) {
	t.Helper()
	cmd := exec.Command("node", "--test", "--test-reporter=tap", file)
	cmd.Dir = nodeAppDir()
	cmd.Env = append(os.Environ(), append([]string{"STICKYD_URL=" + url, fmt.Sprintf("WORKERS=%d", workers)}, env...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("# fail 0")) || bytes.Contains(out, []byte("# pass 0")) {
		t.Fatalf("node --test %s: %v\n%s", file, err, out)
	}
}

// The official client with every transport against 2 Node workers, with
// both @socket.io/sticky versions and both kinds of sid: stickyd's (the
// shim's) and Engine.IO's random ones, routed by the sid table (a request
// that arrives before its sid's registration waits for it; the log says
// how long).
func TestNodeTransports(t *testing.T) {
	for _, tc := range []struct {
		st   nodeStack
		sids string
	}{{stackLatest, "stickyd"}, {stackLatest, "random"}, {stackOld, "random"}} {
		t.Run("sticky"+tc.st.sticky+"-"+tc.sids, func(t *testing.T) {
			c := startNodeCluster(t, 2, tc.st, []string{"--node-sids", tc.sids})
			runNodeClient(t, c.URL, 2, "transports.test.mjs")
			if waits := regexp.MustCompile(`sid registered while its request waited: waited=(\S+)`).FindAllStringSubmatch(c.Logs(), -1); len(waits) > 0 {
				t.Logf("%d requests waited for their sid's registration; the last %s", len(waits), waits[len(waits)-1][1])
			}
		})
	}
}

// Every cluster-adapter operation across 3 Node workers, for
// @socket.io/cluster-adapter 0.3.0 and 0.2.2, in json and advanced mode.
func TestNodeClusterOperations(t *testing.T) {
	for _, st := range []nodeStack{stackLatest, stackOld} {
		for _, mode := range []string{"json", "advanced"} {
			t.Run("adapter"+st.adapter+"-"+mode, func(t *testing.T) {
				c := startNodeCluster(t, 3, st, []string{"--node-serialization", mode, "--node-sids", map[string]string{"0.3": "stickyd", "0.2": "random"}[st.adapter]})
				runNodeClient(t, c.URL, 3, "cluster.test.mjs")
			})
		}
	}
}

// In advanced mode Buffers cross workers intact.
func TestNodeBinaryAdvanced(t *testing.T) {
	c := startNodeCluster(t, 2, stackLatest, []string{"--node-serialization", "advanced"})
	runNodeClient(t, c.URL, 2, "binary.test.mjs")
}

// startNodeApp is startNodeCluster with app (relative to testdata/nodeapp,
// or an absolute command) as the worker command.
func startNodeApp(t *testing.T, workers int, st nodeStack, flags, app []string, env ...string) *cluster {
	t.Helper()
	requireNodeApp(t)
	args := append([]string{"--listen", "127.0.0.1:0"}, flags...)
	if !slices.Contains(flags, "--control") {
		args = append(args, "--control", controlPath(t))
	}
	return launchApp(t, workers, nil, args, nil, app, append(st.env(), env...)...)
}

// A worker killed while broadcasts flow, with cluster-adapter 0.3.0
// (stickyd sends ADAPTER_CLOSE) and 0.2.2 (WORKER_EXIT): the survivors
// get every broadcast, and fetchSockets / serverSideEmit answer at once
// with the live workers. Its slot respawns it.
func TestNodeWorkerKilledMidBroadcast(t *testing.T) {
	for _, st := range []nodeStack{stackLatest, stackOld} {
		t.Run("adapter"+st.adapter, func(t *testing.T) {
			c := startNodeCluster(t, 3, st, nil)
			runNodeClient(t, c.URL, 3, "death.test.mjs")
			testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
				if n := c.readyWorkers(); n < 4 {
					return fmt.Errorf("%d workers ready, want the 3 and a respawned one", n)
				}
				return nil
			})
		})
	}
}

// A worker respawns while sessions start back to back: until its app has
// called setupWorker (SETUP_DELAY_MS after start) it gets no connection,
// so every session succeeds on the other worker meanwhile; then it is
// ready again.
func TestNodeRespawnUnderLoad(t *testing.T) {
	path := controlPath(t)
	c := startNodeApp(t, 2, stackLatest, []string{"--control", path}, []string{"node", filepath.Join(nodeAppDir(), "app.js")}, "SETUP_DELAY_MS=1500")
	st := waitGeneration(t, path, 0, 2)
	for pid := range pidsOf(st, 0) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		break
	}
	runNodeClient(t, c.URL, 2, "load.test.mjs", "DURATION_MS=2500", "LOOPS=6")
	waitGeneration(t, path, 0, 2)
	if !strings.Contains(c.Logs(), "restarting worker") {
		t.Fatalf("no worker was restarted\n%s", c.Logs())
	}
}

// A reload while short sessions run on every transport: none fails (the
// new workers get connections only once their app has called setupWorker,
// SETUP_DELAY_MS after start), the new generation takes over, the old one
// drains.
func TestNodeReloadUnderLoad(t *testing.T) {
	path := controlPath(t)
	c := startNodeApp(t, 2, stackLatest, []string{"--control", path, "--reload-drain-timeout", "3s", "--shutdown-timeout", "3s"},
		[]string{"node", filepath.Join(nodeAppDir(), "app.js")}, "SETUP_DELAY_MS=700")
	st0 := waitGeneration(t, path, 0, 2)
	client := exec.Command("node", "--test", "--test-reporter=tap", "load.test.mjs")
	client.Dir = nodeAppDir()
	client.Env = append(os.Environ(), "STICKYD_URL="+c.URL, "WORKERS=2", "DURATION_MS=4000", "LOOPS=6")
	var out bytes.Buffer
	client.Stdout, client.Stderr = &out, &out
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- client.Wait() }()
	// under load: sessions live (the sid table counts them) when it starts
	testutil.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if n := statusOf(t, path).Totals.Sessions; n == 0 {
			return errors.New("no session yet")
		}
		return nil
	})
	if code, stdout, stderr := ctl(t, "reload", "--control", path); code != 0 {
		t.Fatalf("stickyd reload: %d %s %s", code, stdout, stderr)
	}
	st1 := waitGeneration(t, path, 1, 2)
	for pid := range pidsOf(st1, 1) {
		if pidsOf(st0, 0)[pid] {
			t.Fatalf("pid %d in both generations", pid)
		}
	}
	err := <-done
	if err != nil || !bytes.Contains(out.Bytes(), []byte("# fail 0")) {
		t.Fatalf("load during reload: %v\n%s", err, out.String())
	}
	testutil.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if n := len(pidsOf(statusOf(t, path), 0)); n != 0 {
			return fmt.Errorf("%d old workers still running", n)
		}
		return nil
	})
}

// HTTPS: stickyd terminates TLS and relays each connection to its Node
// worker through a socket pair.
func TestNodeOverHTTPS(t *testing.T) {
	cert := testutil.NewTestCert(t)
	c := startNodeCluster(t, 2, stackLatest, []string{"--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile})
	runNodeClient(t, "https://"+c.Addr, 2, "transports.test.mjs", "NODE_EXTRA_CA_CERTS="+cert.CertFile)
}
