package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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

func TestMain(m *testing.M) {
	if os.Getenv("STICKYD_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestUsageErrors: a bad flag or flag value is a usage error (exit 2, one
// line on stderr); one that cannot be served (listen, TLS certificate,
// metrics address) stops stickyd (exit 1); neither starts a worker.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{[]string{"--bogus", "--", "/bin/true"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"--workers", "x", "--", "/bin/true"}, 2, `invalid value "x" for flag -workers`},
		{[]string{"--workers", "0", "--", "/bin/true"}, 2, "--workers must be at least 1"},
		{[]string{"--balance", "sticky", "--", "/bin/true"}, 2, `unknown policy "sticky"`},
		{[]string{"--log-format", "xml", "--", "/bin/true"}, 2, "--log-format must be text or json"},
		{[]string{"--log-level", "loud", "--", "/bin/true"}, 2, "--log-level must be"},
		{[]string{"--peek-timeout", "0s", "--", "/bin/true"}, 2, "must be positive"},
		{[]string{"--max-peeking", "0", "--", "/bin/true"}, 2, "--max-peeking must be at least 1"},
		{[]string{"--worker-gomaxprocs", "-2", "--", "/bin/true"}, 2, "--worker-gomaxprocs must be -1, 0 or a number of CPUs"},
		{[]string{"--workers", "2"}, 2, "no app given"},
		{[]string{}, 2, "no app given"},
		{[]string{"--", "./no-such-app"}, 2, `app "./no-such-app"`},
		{[]string{"--listen", "256.0.0.1:1", "--", "/bin/true"}, 1, "cannot listen"},
		{[]string{"--tls-cert", "c.pem", "--", "/bin/true"}, 2, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-key", "k.pem", "--", "/bin/true"}, 2, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--trusted-proxy", "10.0.0.0/8", "--client-addr", "x-forwarded-for", "--", "/bin/true"}, 2, "needs a plain listener"},
		{[]string{"--redis", "http://127.0.0.1:6379", "--", "/bin/true"}, 2, "--redis: want redis://"},
		{[]string{"--redis", "redis://127.0.0.1:6379/notadb", "--", "/bin/true"}, 2, "--redis: want redis://"},
		{[]string{"--redis-prefix", "", "--", "/bin/true"}, 2, "--redis-prefix must not be empty"},
		{[]string{"--tls-cert", "/no/such/cert.pem", "--tls-key", "/no/such/key.pem", "--listen", "127.0.0.1:0", "--", "/bin/true"}, 1, "cannot load the TLS certificate"},
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
		if code == 2 && strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%v: stderr has %d lines, want one: %q", tt.args, strings.Count(stderr.String(), "\n"), stderr.String())
		}
		if strings.Contains(stderr.String(), "worker started") {
			t.Errorf("%v: a worker started: %q", tt.args, stderr.String())
		}
	}
}

// TestWorkerEnv: workers get their share of the CPUs as GOMAXPROCS unless
// the environment or the flag says otherwise.
func TestWorkerEnv(t *testing.T) {
	base := []string{"PATH=/bin", "HOME=/root"}
	tests := []struct {
		name                 string
		env                  []string
		procs, workers, cpus int
		want                 string // GOMAXPROCS in the result, "" for none
	}{
		{"two workers on two CPUs", base, 0, 2, 2, "1"},
		{"one worker on eight CPUs", base, 0, 1, 8, "8"},
		{"three workers on eight CPUs", base, 0, 3, 8, "2"},
		{"more workers than CPUs", base, 0, 8, 2, "1"},
		{"given by the flag", base, 4, 2, 2, "4"},
		{"the environment wins", append(base[:2:2], "GOMAXPROCS=3"), 0, 2, 2, "3"},
		{"off", base, -1, 2, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			n := 0
			for _, kv := range workerEnv(tt.env, tt.procs, tt.workers, tt.cpus) {
				if v, ok := strings.CutPrefix(kv, "GOMAXPROCS="); ok {
					got, n = v, n+1
				}
			}
			if got != tt.want || n > 1 {
				t.Errorf("GOMAXPROCS %q (%d times), want %q", got, n, tt.want)
			}
		})
	}
	if len(base) != 2 {
		t.Errorf("workerEnv changed its input: %q", base)
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if got, want := run([]string{"--help"}, &stdout, &stderr), 0; got != want {
		t.Fatalf("exit %d, want %d", got, want)
	}
	for _, f := range []string{"-workers", "-listen", "-balance", "-log-format", "-log-level", "-peek-timeout", "-max-peeking", "-start-timeout", "-shutdown-timeout", "-- ./app"} {
		if !strings.Contains(stdout.String(), f) {
			t.Errorf("--help does not document %s", f)
		}
	}
}

// buildFakeApp builds testdata/fakeapp, a worker using the worker package.
func buildFakeApp(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fakeapp")
	out, err := exec.Command("go", "build", "-o", bin, "../../testdata/fakeapp").CombinedOutput()
	if err != nil {
		t.Fatalf("build fakeapp: %v\n%s", err, out)
	}
	return bin
}

var pidRE = regexp.MustCompile(`instance=(\d+) pid=(\d+)`)

// TestEndToEnd runs stickyd (this binary) with two fakeapp workers, reads
// the listen address from its JSON log, checks sid routing and the
// unknown-sid answer, then SIGTERMs it: exit 0 and no worker left.
func TestEndToEnd(t *testing.T) {
	app := buildFakeApp(t)
	cmd := exec.Command(os.Args[0], "--workers", "2", "--listen", "127.0.0.1:0", "--log-format", "json", "--shutdown-timeout", "5s", "--worker-gomaxprocs", "3", "--", app)
	cmd.Env = append(os.Environ(), "STICKYD_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addrc := make(chan string, 1)
	var logs testutil.LogBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stickyd log:\n%s", logs.String())
		}
	})
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.Write([]byte(sc.Text() + "\n"))
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			if a, ok := m["addr"].(string); ok {
				select {
				case addrc <- a:
				default:
				}
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrc:
	case <-time.After(20 * time.Second):
		t.Fatal("no log line with addr")
	}
	// Keep-alive connections are reused across sids (hand-back); fresh
	// connections are balanced.
	keepAlive := &http.Client{}
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer keepAlive.CloseIdleConnections()
	client := keepAlive
	get := func(path string) (int, string, error) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	var sid string
	testutil.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
		code, body, err := get("/sid")
		if err != nil || code != 200 {
			return fmt.Errorf("no worker ready: %d %q %v", code, body, err)
		}
		sid = body
		return nil
	})
	pids := map[string]bool{}
	var owner string
	for k := 0; k < 10; k++ {
		_, body, err := get("/who?sid=" + sid)
		if err != nil {
			t.Fatal(err)
		}
		m := pidRE.FindStringSubmatch(body)
		if m == nil || (owner != "" && m[0] != owner) {
			t.Fatalf("request %d with sid reached %q, want %q", k, body, owner)
		}
		owner = m[0]
		pids[m[2]] = true
	}
	client = fresh
	for k := 0; k < 10; k++ {
		if _, body, err := get("/"); err == nil {
			if m := pidRE.FindStringSubmatch(body); m != nil {
				pids[m[2]] = true
			}
		}
	}
	wantProcs := "GOMAXPROCS=3"
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		wantProcs = "GOMAXPROCS=" + v // the environment wins
	}
	for pid := range pids {
		environ, err := os.ReadFile("/proc/" + pid + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(strings.Split(string(environ), "\x00"), wantProcs) {
			t.Errorf("worker %s: environment lacks %s", pid, wantProcs)
		}
	}
	if code, body, _ := get("/x?sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAA"); code != 400 || body != `{"code":1,"message":"Session ID unknown"}` {
		t.Errorf("unknown sid: %d %q", code, body)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitc := make(chan error, 1)
	go func() { <-logDone; waitc <- cmd.Wait() }()
	select {
	case err := <-waitc:
		if err != nil {
			t.Fatalf("stickyd exited with %v, want 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("stickyd did not exit after SIGTERM")
	}
	// The workers' own log lines keep their level and gain slot, instance, pid.
	workerLines := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || !strings.HasPrefix(fmt.Sprint(m["@message"]), "fakeapp: started") {
			continue
		}
		workerLines++
		if m["@level"] != "warn" || m["slot"] == nil || m["instance"] == nil || m["pid"] == nil {
			t.Errorf("worker log line %s: want level warn with slot, instance and pid", line)
		}
	}
	if workerLines != 2 {
		t.Errorf("found %d worker log lines, want 2", workerLines)
	}
	if len(pids) < 2 {
		t.Errorf("saw worker pids %v, want 2", pids)
	}
	for pid := range pids {
		var n int
		fmt.Sscan(pid, &n)
		if err := syscall.Kill(n, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("worker %d survives stickyd: %v", n, err)
		}
	}
}
