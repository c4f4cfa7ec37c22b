package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// TestReloadUnderLoad: across a SIGHUP, with polling sessions, WebSocket
// sessions and new handshakes in flight, no request fails and no WebSocket
// drops before the drain deadline; sessions stay on their old workers;
// handshakes after the switch land on the new generation; the primary's
// pid does not change; at the drain deadline the old workers are drained
// (their WebSockets closed by the server) and exit 0.
func TestReloadUnderLoad(t *testing.T) {
	const drain = 4 * time.Second
	path := controlPath(t)
	c := startCluster(t, 2, []string{"--control", path, "--reload-drain-timeout", drain.String(), "--shutdown-timeout", "5s"}, noRaceExitDelay)
	st0 := waitGeneration(t, path, 0, 2)
	oldPIDs := pidsOf(st0, 0)

	g := &goTB{TB: t}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var polls, wsCalls, handshakes atomic.Int64

	// Polling sessions, each on its own keep-alive connection.
	for i := 0; i < 4; i++ {
		pc := newPollClient(c.URL, 1)
		defer pc.close()
		s := pc.open(t)
		first := s.whoami(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if got := s.whoami(g); got != first {
					g.Fatalf("polling session %s moved from pid %d to %d", s.sid, first, got)
				}
				polls.Add(1)
			}
		}()
	}
	// WebSocket sessions, kept open past the switch.
	var wss []*wsSession
	for i := 0; i < 4; i++ {
		ws, err := dialWS(c.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.close()
		wss = append(wss, ws)
	}
	var wsMu sync.Mutex // the WebSockets are pinged from one goroutine
	wsPIDs := make([]int, len(wss))
	for i, ws := range wss {
		pid, err := ws.whoami()
		if err != nil {
			t.Fatal(err)
		}
		wsPIDs[i] = pid
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			wsMu.Lock()
			for i, ws := range wss {
				pid, err := ws.whoami()
				if err != nil || pid != wsPIDs[i] {
					wsMu.Unlock()
					g.Fatalf("WebSocket %d before the drain deadline: pid %d (was %d), %v", i, pid, wsPIDs[i], err)
				}
				wsCalls.Add(1)
			}
			wsMu.Unlock()
		}
	}()
	// New handshakes all along; each records whether it came after the
	// switch to generation 1 was observed.
	var switched atomic.Bool
	var newOnOld, newOnNew atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			after := switched.Load()
			pc := newPollClient(c.URL, 1)
			s := pc.open(g)
			pid := s.whoami(g)
			pc.close()
			handshakes.Add(1)
			if after && oldPIDs[pid] {
				newOnOld.Add(1)
			} else if after {
				newOnNew.Add(1)
			}
		}
	}()

	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if polls.Load() < 20 || wsCalls.Load() < 20 || handshakes.Load() < 3 {
			return fmt.Errorf("load not flowing yet: %d polls, %d ws, %d handshakes", polls.Load(), wsCalls.Load(), handshakes.Load())
		}
		return nil
	})
	c.Signal(syscall.SIGHUP)
	st1 := waitGeneration(t, path, 1, 2)
	switched.Store(true)
	newPIDs := pidsOf(st1, 1)
	for pid := range newPIDs {
		if oldPIDs[pid] {
			t.Fatalf("new generation reuses pid %d of the old one", pid)
		}
	}
	if st1.PID != c.PID() {
		t.Errorf("primary pid %d after reload, want %d", st1.PID, c.PID())
	}
	// Keep the load on for a while after the switch, well inside the drain
	// deadline.
	base := polls.Load()
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if polls.Load() < base+40 || newOnNew.Load() < 3 {
			return fmt.Errorf("after the switch: %d polls, %d new sessions", polls.Load()-base, newOnNew.Load())
		}
		return nil
	})
	if st := statusOf(t, path); len(pidsOf(st, 0)) != 2 {
		t.Errorf("old generation has %d workers before its drain deadline, want 2 (it has sessions)", len(pidsOf(st, 0)))
	}
	stop.Store(true)
	wg.Wait()
	if f := g.failures(); len(f) > 0 {
		t.Fatalf("%d failures under reload; first: %s", len(f), f[0])
	}
	if n := newOnOld.Load(); n > 0 {
		t.Errorf("%d new sessions after the switch landed on the old generation", n)
	}
	t.Logf("%d polls, %d WebSocket round trips, %d handshakes (%d after the switch)", polls.Load(), wsCalls.Load(), handshakes.Load(), newOnNew.Load())

	// At the drain deadline the old workers are drained: the server closes
	// the WebSockets it still holds, and they exit 0.
	for i, ws := range wss {
		if err := ws.waitClosed(drain + 10*time.Second); err != nil {
			t.Errorf("WebSocket %d on the old generation: %v", i, err)
		}
	}
	testutil.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		st := statusOf(t, path)
		if n := len(pidsOf(st, 0)); n != 0 {
			return fmt.Errorf("%d old workers still running", n)
		}
		return nil
	})
	statuses := testutil.ExitStatuses(c.Logs())
	for _, w := range st0.Workers {
		if got := statuses[fmt.Sprint(w.Instance)]; got != "exit status 0" {
			t.Errorf("old worker %d (pid %d) exited with %q, want exit status 0", w.Instance, w.PID, got)
		}
	}
}

// TestReloadFailureKeepsOldGeneration: a new generation whose app exits at
// start is rolled back; the old one keeps serving, `stickyd reload` exits 1
// with the reason, status shows it; the next reload succeeds.
func TestReloadFailureKeepsOldGeneration(t *testing.T) {
	path := controlPath(t)
	flag := filepath.Join(t.TempDir(), "fail")
	c := startCluster(t, 2, []string{"--control", path, "--start-timeout", "10s", "--shutdown-timeout", "3s"}, "REFAPP_FAIL_IF_EXISTS="+flag)
	st0 := waitGeneration(t, path, 0, 2)
	pc := newPollClient(c.URL, 1)
	defer pc.close()
	s := pc.open(t)
	pid := s.whoami(t)

	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := ctl(t, "reload", "--control", path)
	if code != 1 || !strings.Contains(errs, "primary: reload failed: generation 1:") || !strings.Contains(errs, "exited before it was ready: exit status 1") {
		t.Fatalf("failed reload: exit %d, stderr %q; want 1 with the reason", code, errs)
	}
	st := statusOf(t, path)
	if st.Generation != 0 || st.Reload.Error == "" || st.Reload.Generation != 1 {
		t.Errorf("status after a failed reload: generation %d, reload %+v; want 0 and the error", st.Generation, st.Reload)
	}
	if got := s.whoami(t); got != pid {
		t.Errorf("old session moved from %d to %d", pid, got)
	}
	for i := 0; i < 10; i++ {
		other := newPollClient(c.URL, 1)
		p := other.open(t).whoami(t)
		other.close()
		if !pidsOf(st0, 0)[p] {
			t.Fatalf("new session on pid %d, not of the old generation %v", p, pidsOf(st0, 0))
		}
	}
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if st := statusOf(t, path); len(st.Workers) != 2 {
			return fmt.Errorf("%d workers, want the 2 old ones (the failed generation killed)", len(st.Workers))
		}
		return nil
	})

	os.Remove(flag)
	if code, out, errs := ctl(t, "reload", "--control", path); code != 0 || out != "reloaded\n" {
		t.Fatalf("reload after the fix: exit %d %q %s", code, out, errs)
	}
	// Generation numbers are not reused: the failed one was 1.
	waitGeneration(t, path, 2, 2)
	other := newPollClient(c.URL, 1)
	defer other.close()
	if p := other.open(t).whoami(t); pidsOf(st0, 0)[p] {
		t.Errorf("new session after a good reload on old pid %d", p)
	}
	if got := s.whoami(t); got != pid {
		t.Errorf("old session moved from %d to %d after the good reload", pid, got)
	}
}

// TestReloadGenerationCap: reloads while old generations drain keep at most
// --max-generations running: the oldest is drained at once (its WebSocket
// closed), the others keep their sessions.
func TestReloadGenerationCap(t *testing.T) {
	path := controlPath(t)
	c := startCluster(t, 1, []string{"--control", path, "--max-generations", "3", "--reload-drain-timeout", "5m", "--shutdown-timeout", "5s"})
	var wss []*wsSession
	for gen := uint32(0); gen < 3; gen++ {
		waitGeneration(t, path, gen, 1)
		ws, err := dialWS(c.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.close()
		wss = append(wss, ws)
		if code, _, errs := ctl(t, "reload", "--control", path); code != 0 {
			t.Fatalf("reload %d: exit %d %s", gen+1, code, errs)
		}
	}
	waitGeneration(t, path, 3, 1)
	// Generations 1, 2 and 3 run; 0 was drained when 3 started.
	if err := wss[0].waitClosed(10 * time.Second); err != nil {
		t.Errorf("generation 0 (beyond the cap): %v", err)
	}
	for i, ws := range wss[1:] {
		if _, err := ws.whoami(); err != nil {
			t.Errorf("generation %d's WebSocket: %v", i+1, err)
		}
	}
	testutil.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		st := statusOf(t, path)
		gens := map[uint32]int{}
		for _, w := range st.Workers {
			gens[w.Generation]++
		}
		if gens[0] != 0 || gens[1] != 1 || gens[2] != 1 || gens[3] != 1 {
			return fmt.Errorf("workers per generation %v, want 1, 2 and 3 only", gens)
		}
		return nil
	})
}
