package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// bins holds the paths of the binaries TestMain built.
var bins struct {
	stickyd, refapp string
	root            string // repository root
}

func TestMain(m *testing.M) {
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func buildAndRun(m *testing.M) (int, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "stickyd-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	bins.root = root
	bins.stickyd = filepath.Join(dir, "stickyd")
	bins.refapp = filepath.Join(dir, "refapp")
	for _, b := range []struct{ out, pkg string }{
		{bins.stickyd, "./cmd/stickyd"},
		{bins.refapp, "./testdata/refapp"},
	} {
		args := []string{"build", "-o", b.out}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, b.pkg)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return m.Run(), nil
}

// cluster is one running stickyd with its workers.
type cluster struct {
	t    testing.TB
	cmd  *exec.Cmd
	URL  string // http://127.0.0.1:PORT
	Addr string // 127.0.0.1:PORT

	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
	err  error // exit status once done is closed
}

var addrRE = regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)|"addr":"(127\.0\.0\.1:\d+)"`)

// startCluster runs `stickyd --workers n --listen 127.0.0.1:0 [flags] --
// refapp` with env added to the environment, waits until it logs its
// address and its workers are ready, and stops it when the test ends.
func startCluster(t testing.TB, workers int, flags []string, env ...string) *cluster {
	t.Helper()
	return launch(t, workers, nil, append([]string{"--listen", "127.0.0.1:0"}, flags...), nil, env...)
}

// launch runs stickyd, optionally through argv0 (a wrapper such
// as sh) with extra inherited files; args are stickyd's own arguments
// (without --listen when files carry the listener).
func launch(t testing.TB, workers int, wrapper []string, args []string, files []*os.File, env ...string) *cluster {
	t.Helper()
	return launchApp(t, workers, wrapper, args, files, []string{bins.refapp}, env...)
}

// launchApp is launch with app (its path and arguments) as the workers.
func launchApp(t testing.TB, workers int, wrapper []string, args []string, files []*os.File, app []string, env ...string) *cluster {
	t.Helper()
	all := []string{"--workers", fmt.Sprint(workers), "--log-level", "debug"}
	all = append(all, args...)
	all = append(all, "--")
	all = append(all, app...)
	argv := append(append(append([]string(nil), wrapper...), bins.stickyd), all...)
	c := &cluster{t: t, done: make(chan struct{})}
	c.cmd = exec.Command(argv[0], argv[1:]...)
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.ExtraFiles = files
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	c.cmd.Stdout, c.cmd.Stderr = pw, pw
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start stickyd: %v", err)
	}
	for _, f := range files {
		f.Close()
	}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.logs.WriteString(line + "\n")
			c.mu.Unlock()
			if m := addrRE.FindStringSubmatch(line); m != nil {
				select {
				case addrc <- m[1] + m[2]:
				default:
				}
			}
		}
	}()
	go func() {
		c.err = c.cmd.Wait()
		pw.Close()
		close(c.done)
	}()
	t.Cleanup(c.stop)
	select {
	case a := <-addrc:
		c.Addr, c.URL = a, "http://"+a
	case <-c.done:
		t.Fatalf("stickyd exited before listening: %v\n%s", c.err, c.Logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("stickyd did not log its address within 30s\n%s", c.Logs())
	}
	c.waitReady(workers)
	return c
}

// waitReady polls until n distinct workers have answered a handshake-free
// probe; until then new connections may get 503.
func (c *cluster) waitReady(n int) {
	c.t.Helper()
	testutil.CheckFor(c.t, 30*time.Second, 20*time.Millisecond, func() error {
		got := c.readyWorkers()
		if got < n {
			return fmt.Errorf("%d of %d workers ready", got, n)
		}
		return nil
	})
}

// readyWorkers counts the "worker ready" lines in the log.
func (c *cluster) readyWorkers() int {
	return strings.Count(c.Logs(), "worker ready")
}

// Logs returns everything stickyd and its workers printed so far.
func (c *cluster) Logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logs.String()
}

// PID is the primary's process id.
func (c *cluster) PID() int { return c.cmd.Process.Pid }

// Signal sends sig to the primary.
func (c *cluster) Signal(sig syscall.Signal) {
	_ = c.cmd.Process.Signal(sig)
}

func (c *cluster) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
		c.t.Errorf("stickyd did not stop within 15s of SIGTERM\n%s", c.Logs())
	}
	if c.t.Failed() {
		c.t.Logf("stickyd log:\n%s", c.Logs())
	}
}

// waitExit waits up to within for stickyd to exit, failing the test with
// what (e.g. "after SIGTERM") when it does not.
func (c *cluster) waitExit(t testing.TB, within time.Duration, what string) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(within):
		t.Fatalf("stickyd did not exit within %v %s", within, what)
	}
}

// jsDir is the folder of the JavaScript client tests.
func jsDir() string { return filepath.Join(bins.root, "testdata", "jsclient") }

// requireNode skips (or, under CI, fails) when node or the npm packages are missing.
func requireNode(t *testing.T) {
	t.Helper()
	_, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(jsDir(), "node_modules", "socket.io-client"))
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("JavaScript client tests need node and `npm ci` in testdata/jsclient: %v", err)
		}
		t.Skipf("node or testdata/jsclient/node_modules missing (run npm ci there): %v", err)
	}
}

// runNode runs one node:test file against url and fails the test with its
// output when any case fails.
func runNode(t *testing.T, url string, workers int, file string, env ...string) {
	t.Helper()
	requireNode(t)
	cmd := exec.Command("node", "--test", "--test-reporter=tap", file)
	cmd.Dir = jsDir()
	cmd.Env = append(os.Environ(), append([]string{
		"STICKYD_URL=" + url, fmt.Sprintf("WORKERS=%d", workers),
	}, env...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test %s: %v\n%s", file, err, out)
	}
	if !bytes.Contains(out, []byte("# fail 0")) {
		t.Fatalf("node --test %s: no '# fail 0' line\n%s", file, out)
	}
	if bytes.Contains(out, []byte("# pass 0")) {
		t.Fatalf("node --test %s: no test passed\n%s", file, out)
	}
}
