package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
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
	return launchApp(t, workers, nil, args, app, nil, append(st.env(), env...)...)
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
// both @socket.io/sticky versions.
func TestNodeTransports(t *testing.T) {
	for _, st := range []nodeStack{stackLatest, stackOld} {
		t.Run("sticky"+st.sticky, func(t *testing.T) {
			c := startNodeCluster(t, 2, st, nil)
			runNodeClient(t, c.URL, 2, "transports.test.mjs")
		})
	}
}

// Every cluster-adapter operation across 3 Node workers, for
// @socket.io/cluster-adapter 0.3.0 and 0.2.2, in json and advanced mode.
func TestNodeClusterOperations(t *testing.T) {
	for _, st := range []nodeStack{stackLatest, stackOld} {
		for _, mode := range []string{"json", "advanced"} {
			t.Run("adapter"+st.adapter+"-"+mode, func(t *testing.T) {
				c := startNodeCluster(t, 3, st, []string{"--node-serialization", mode})
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
