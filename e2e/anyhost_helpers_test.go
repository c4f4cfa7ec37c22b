package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// anyHostSecret is the fleet secret of the any-host tests.
const anyHostSecret = "e2e-fleet-secret-0123456789"

// fleetHost is one stickyd host of a test fleet.
type fleetHost struct {
	*cluster
	control string
	metrics string // http://127.0.0.1:PORT of --metrics
}

// secretFile writes secret to a file of the test's temp dir.
func secretFile(t testing.TB, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fleet.secret")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startFleetHost starts a stickyd host of the fleet on redisURL with
// workers workers, its own operator socket and metrics, and extra flags.
func startFleetHost(t testing.TB, redisURL string, workers int, extra ...string) *fleetHost {
	t.Helper()
	h := &fleetHost{control: controlPath(t), metrics: "127.0.0.1:" + fmt.Sprint(freePort(t))}
	flags := append([]string{"--fleet-secret-file", secretFile(t, anyHostSecret), "--redis", redisURL,
		"--control", h.control, "--metrics", h.metrics}, extra...)
	h.cluster = startCluster(t, workers, flags, fastPings...)
	h.metrics = "http://" + h.metrics
	return h
}

// kill stops the host and its workers at once with SIGKILL (no drain, no
// release of its Redis lease), as a crashed machine would.
func (h *fleetHost) kill() {
	syscall.Kill(-h.PID(), syscall.SIGKILL)
	<-h.done
}

// freePort returns a loopback TCP port free at the time of the call.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// haproxyBinary returns the path of haproxy, or skips (fails under CI).
func haproxyBinary(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"haproxy", "/usr/sbin/haproxy"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("haproxy not installed (.ci/run installs it)")
	}
	t.Skip("haproxy not installed")
	return ""
}

// haproxyConfig is scripts/haproxy-rr.cfg's shape: round robin over the
// hosts in mode http, no stickiness of any kind; backendExtra is added to
// the backend section.
func haproxyConfig(listen, backendExtra string, hosts []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
  maxconn 4000
defaults
  mode http
  option http-keep-alive
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  retries 3
  option redispatch 1
frontend fe
  bind %s
  default_backend hosts
backend hosts
  balance roundrobin
%s
`, listen, backendExtra)
	for i, h := range hosts {
		fmt.Fprintf(&b, "  server host%d %s\n", i+1, h)
	}
	return b.String()
}

// startHAProxy runs haproxy round robin in front of hosts and returns its
// address; it is stopped when the test ends.
func startHAProxy(t testing.TB, hosts ...string) string {
	t.Helper()
	return startHAProxyWith(t, "", hosts...)
}

// startHAProxyWith is startHAProxy with backendExtra in the backend.
func startHAProxyWith(t testing.TB, backendExtra string, hosts ...string) string {
	t.Helper()
	bin := haproxyBinary(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(haproxyConfig(addr, backendExtra, hosts)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", cfg)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("haproxy: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		select {
		case <-done:
			t.Fatalf("haproxy exited: %s", out.String())
		default:
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		c.Close()
		return nil
	})
	return addr
}

// errNotYet is a condition of checkFor not met yet.
var errNotYet = errors.New("not yet")
