package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/operator"
)

// noRaceExitDelay removes the race detector's 1 s sleep at exit from the
// workers (built with -race under go test -race), which would otherwise eat
// the margin a drained worker has between its deadline and being killed.
const noRaceExitDelay = "GORACE=atexit_sleep_ms=0"

// controlPath returns a fresh operator socket path for one cluster.
func controlPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "control.sock")
}

// ctl runs `stickyd args...` (status, reload, stop) and returns its exit
// code and output.
func ctl(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bins.stickyd, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	}
	t.Fatalf("stickyd %v: %v", args, err)
	return 0, "", ""
}

// statusOf returns `stickyd status --json` of the cluster at path.
func statusOf(t testing.TB, path string) *operator.StatusReport {
	t.Helper()
	code, out, errs := ctl(t, "status", "--json", "--control", path)
	if code != 0 {
		t.Fatalf("stickyd status: exit %d: %s", code, errs)
	}
	var st operator.StatusReport
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("stickyd status --json: %v\n%s", err, out)
	}
	return &st
}

// pidsOf returns the pids of generation gen's workers in st.
func pidsOf(st *operator.StatusReport, gen uint32) map[int]bool {
	pids := map[int]bool{}
	for _, w := range st.Workers {
		if w.Generation == gen {
			pids[w.PID] = true
		}
	}
	return pids
}

// waitGeneration polls until generation gen is current with n ready workers.
func waitGeneration(t testing.TB, path string, gen uint32, n int) *operator.StatusReport {
	t.Helper()
	var st *operator.StatusReport
	testutil.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		st = statusOf(t, path)
		if st.Generation != gen || st.Totals.Ready != n {
			return fmt.Errorf("generation %d with %d ready, want %d with %d", st.Generation, st.Totals.Ready, gen, n)
		}
		return nil
	})
	return st
}

// goTB lets the t-taking session helpers run on other goroutines: Fatalf
// records the failure and ends only that goroutine.
type goTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (g *goTB) Helper() {}

func (g *goTB) Fatalf(format string, args ...any) {
	g.mu.Lock()
	g.errs = append(g.errs, fmt.Sprintf(format, args...))
	g.mu.Unlock()
	runtime.Goexit()
}

func (g *goTB) failures() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.errs...)
}

// wsSession is a Socket.IO session over a WebSocket.
type wsSession struct {
	ws      *websocket.Conn
	nextAck int
}

// dialWS opens an Engine.IO WebSocket session, connects to "/" and consumes
// the refapp's "auth" event.
func dialWS(addr string) (*wsSession, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	s := &wsSession{ws: ws}
	if _, err := s.expect("0{"); err != nil {
		ws.Close()
		return nil, err
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		ws.Close()
		return nil, err
	}
	if _, err := s.expect("40{"); err != nil {
		ws.Close()
		return nil, err
	}
	if _, err := s.expect(`42["auth"`); err != nil {
		ws.Close()
		return nil, err
	}
	return s, nil
}

// expect reads packets (answering pings) until one starts with prefix.
func (s *wsSession) expect(prefix string) (string, error) {
	for {
		s.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := s.ws.ReadMessage()
		if err != nil {
			return "", fmt.Errorf("waiting for %q: %w", prefix, err)
		}
		p := string(b)
		switch {
		case p == "2":
			s.ws.WriteMessage(websocket.TextMessage, []byte("3"))
		case strings.HasPrefix(p, prefix):
			return p, nil
		default:
			return "", fmt.Errorf("got packet %q, want prefix %q", p, prefix)
		}
	}
}

// whoami returns the pid of the worker serving the session.
func (s *wsSession) whoami() (int, error) {
	id := s.nextAck
	s.nextAck++
	if err := s.ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`42%d["whoami"]`, id))); err != nil {
		return 0, err
	}
	p, err := s.expect(fmt.Sprintf("43%d", id))
	if err != nil {
		return 0, err
	}
	var res []struct{ PID int }
	if err := json.Unmarshal([]byte(p[len(fmt.Sprintf("43%d", id)):]), &res); err != nil || len(res) != 1 {
		return 0, fmt.Errorf("whoami ack %q: %v", p, err)
	}
	return res[0].PID, nil
}

func (s *wsSession) close() { s.ws.Close() }

// waitClosed reads (answering pings) until the server ends the connection,
// or fails when it is still open after d.
func (s *wsSession) waitClosed(d time.Duration) error {
	s.ws.SetReadDeadline(time.Now().Add(d))
	for {
		_, msg, err := s.ws.ReadMessage()
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			return fmt.Errorf("WebSocket still open after %v", d)
		case err != nil:
			return nil
		case string(msg) == "2":
			s.ws.WriteMessage(websocket.TextMessage, []byte("3"))
		}
	}
}

// TestStatusCommand: `stickyd status` lists every worker of a running
// cluster with its pid, state and counts; --json gives the same as JSON;
// the primary logs its control path; `stickyd stop` stops it.
func TestStatusCommand(t *testing.T) {
	path := controlPath(t)
	c := startCluster(t, 2, []string{"--control", path, "--shutdown-timeout", "3s"})
	if !strings.Contains(c.Logs(), "control="+path) {
		t.Errorf("primary did not log control=%s", path)
	}
	pc := newPollClient(c.URL, 1)
	defer pc.close()
	s := pc.open(t)
	pid := s.whoami(t)

	var st *operator.StatusReport
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		st = statusOf(t, path)
		if st.Totals.Sessions != 1 {
			return fmt.Errorf("status reports %d sessions, want 1", st.Totals.Sessions)
		}
		return nil
	})
	if got, want := fmt.Sprintf("pid=%d gen=%d workers=%d ready=%d", st.PID, st.Generation, st.Totals.Workers, st.Totals.Ready),
		fmt.Sprintf("pid=%d gen=0 workers=2 ready=2", c.PID()); got != want {
		t.Errorf("status: got %s, want %s", got, want)
	}
	if !pidsOf(st, 0)[pid] {
		t.Errorf("status pids %v do not include the session's worker %d", pidsOf(st, 0), pid)
	}

	code, out, errs := ctl(t, "status", "--control", path)
	if code != 0 {
		t.Fatalf("stickyd status: exit %d %s", code, errs)
	}
	for _, w := range st.Workers {
		row := fmt.Sprintf(`(?m)^%d +%d +%d +0 +ready +\S+ +%d +\d+ +0$`, w.Slot, w.Instance, w.PID, w.Sessions)
		if !regexp.MustCompile(row).MatchString(out) {
			t.Errorf("status table has no row %q:\n%s", row, out)
		}
	}
	if !strings.Contains(out, "total: 2 workers (2 ready in generation 0), 1 sessions") {
		t.Errorf("status table has no totals line:\n%s", out)
	}

	if code, out, errs := ctl(t, "stop", "--control", path); code != 0 || out != "stopping\n" {
		t.Fatalf("stickyd stop: exit %d %q %s", code, out, errs)
	}
	c.waitExit(t, 15*time.Second, "of `stickyd stop`")
	if c.err != nil {
		t.Errorf("stickyd exited with %v after stop, want 0", c.err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("operator socket left behind: %v", err)
	}
	if code, _, errs := ctl(t, "status", "--control", path); code != 1 || !strings.Contains(errs, "no such file") {
		t.Errorf("status of a stopped cluster: exit %d %q, want 1 and the dial error", code, errs)
	}
}

// workerEnviron returns the environment of process pid.
func workerEnviron(t testing.TB, pid int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatalf("environ of %d: %v", pid, err)
	}
	return strings.Split(string(b), "\x00")
}
