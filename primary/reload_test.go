package primary

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/systemd"
	"github.com/stickyd/stickyd/internal/testutil"
)

// startSwitchable runs a Supervisor whose workers are this test binary in
// fake worker mode mode, started through sh so that while the file flag
// exists new workers run in mode flagMode instead ("exit" makes them exit 1
// at once).
func startSwitchable(t *testing.T, mode, flagMode string, opts Options) (*harness, string, *testutil.LogBuffer) {
	t.Helper()
	flag := filepath.Join(t.TempDir(), "flag")
	alt := fakeWorkerEnv + "=" + flagMode + ` exec "$0"`
	if flagMode == "exit" {
		alt = "exit 1"
	}
	opts.Argv = []string{"/bin/sh", "-c", `if [ -e "` + flag + `" ]; then ` + alt + `; fi; exec "$0"`, os.Args[0]}
	opts.Env = append(os.Environ(), fakeWorkerEnv+"="+mode)
	if opts.Workers == 0 {
		opts.Workers = 2
	}
	logger, logs := testLogger(t)
	opts.Logger = logger
	return runSupervisor(t, opts, opts.Workers), flag, logs
}

// instancesOf returns the instance ids of generation gen that are not gone.
func instancesOf(s *Supervisor, gen uint32) map[uint32]int {
	out := map[uint32]int{}
	for _, w := range s.Status().Workers {
		if w.Generation == gen && w.State != Gone {
			out[w.Instance] = w.PID
		}
	}
	return out
}

// TestReloadRollsToNewGeneration: Reload starts a new generation, new
// connections go to it, the idle old workers are drained and exit 0, and
// the report says so.
func TestReloadRollsToNewGeneration(t *testing.T) {
	h, _, logs := startSwitchable(t, "ok", "ok", Options{Workers: 2, ShutdownTimeout: 5 * time.Second})
	old := instancesOf(h.s, 0)
	if err := h.s.Reload(context.Background()); err != nil {
		t.Fatalf("Reload = %v", err)
	}
	st := h.s.Status()
	if st.Generation != 1 || len(instancesOf(h.s, 1)) != 2 {
		t.Fatalf("after Reload: generation %d with %d workers, want 1 with 2", st.Generation, len(instancesOf(h.s, 1)))
	}
	for i := 0; i < 20; i++ {
		_, body, err := h.get("/")
		var id uint32
		if _, serr := fmt.Sscanf(body, "instance=%d", &id); err != nil || serr != nil {
			t.Fatalf("GET /: %q %v", body, err)
		}
		if _, ok := old[id]; ok {
			t.Fatalf("new connection went to old instance %d", id)
		}
	}
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		for _, w := range h.s.Status().Workers {
			if w.Generation == 0 {
				return fmt.Errorf("old instance %d still known (%s)", w.Instance, w.State)
			}
		}
		return nil
	})
	for id, pid := range old {
		if got := testutil.ExitStatuses(logs.String())[fmt.Sprint(id)]; got != "exit status 0" {
			t.Errorf("old instance %d: %q, want exit status 0", id, got)
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("old worker %d still alive: %v", pid, err)
		}
	}
	r := h.s.Report()
	if r.Reload.Count != 1 || r.Reload.Error != "" || r.Reload.Generation != 1 || r.Reload.InProgress || len(r.Reload.Draining) != 0 {
		t.Errorf("report after reload: %+v", r.Reload)
	}
}

// TestReloadRollback: a new generation that exits at start, or misses the
// start timeout, is killed; the old generation keeps serving and the error
// says why.
func TestReloadRollback(t *testing.T) {
	tests := []struct {
		flagMode string
		want     string
	}{
		{"exit", "worker exited before it was ready: exit status 1"},
		{"noready", "worker not ready within the start timeout 500ms"},
	}
	for _, tt := range tests {
		t.Run(tt.flagMode, func(t *testing.T) {
			h, flag, _ := startSwitchable(t, "ok", tt.flagMode, Options{Workers: 2, StartTimeout: 500 * time.Millisecond})
			old := instancesOf(h.s, 0)
			os.WriteFile(flag, nil, 0o600)
			err := h.s.Reload(context.Background())
			if !errors.Is(err, ErrReloadFailed) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Reload = %v, want ErrReloadFailed with %q", err, tt.want)
			}
			if st := h.s.Status(); st.Generation != 0 {
				t.Errorf("generation %d after a failed reload, want 0", st.Generation)
			}
			if r := h.s.Report().Reload; !strings.Contains(r.Error, tt.want) || r.Generation != 1 {
				t.Errorf("report: %+v", r)
			}
			testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
				st := h.s.Status()
				if len(st.Workers) != 2 {
					return fmt.Errorf("%d workers, want the 2 old ones", len(st.Workers))
				}
				return nil
			})
			if got := instancesOf(h.s, 0); fmt.Sprint(got) != fmt.Sprint(old) {
				t.Errorf("old generation %v changed to %v", old, got)
			}
			_, body, err := h.get("/")
			var id uint32
			fmt.Sscanf(body, "instance=%d", &id)
			if _, ok := old[id]; !ok || err != nil {
				t.Errorf("after rollback GET / = %q %v, want an old instance", body, err)
			}
			// Generation numbers are not reused.
			os.Remove(flag)
			if err := h.s.Reload(context.Background()); err != nil {
				t.Fatalf("second Reload = %v", err)
			}
			if st := h.s.Status(); st.Generation != 2 {
				t.Errorf("generation %d after the good reload, want 2", st.Generation)
			}
		})
	}
}

// TestReloadStates: Reload before Run and after shutdown.
func TestReloadStates(t *testing.T) {
	s, err := New(Options{Argv: []string{"x"}, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Reload before Run = %v, want ErrNotRunning", err)
	}
	h, _, _ := startSwitchable(t, "ok", "ok", Options{Workers: 1})
	h.stop()
	if err := h.s.Reload(context.Background()); !errors.Is(err, ErrShuttingDown) {
		t.Errorf("Reload after shutdown = %v, want ErrShuttingDown", err)
	}
}

// TestReloadCancelled: a reload whose context ends before the new
// generation is ready is rolled back.
func TestReloadCancelled(t *testing.T) {
	h, flag, _ := startSwitchable(t, "ok", "noready", Options{Workers: 1, StartTimeout: time.Minute})
	os.WriteFile(flag, nil, 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := h.s.Reload(ctx); !errors.Is(err, ErrReloadFailed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Reload = %v, want ErrReloadFailed wrapping context.DeadlineExceeded", err)
	}
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := len(h.s.Status().Workers); n != 1 {
			return fmt.Errorf("%d workers, want 1", n)
		}
		return nil
	})
}

// TestDrainedWorkerClosingItsLinkIsNotKilled: a worker that closes its
// control link after Drain and exits a little later exits by itself.
func TestDrainedWorkerClosingItsLinkIsNotKilled(t *testing.T) {
	h, _, logs := startSwitchable(t, "lingerdrain", "lingerdrain", Options{Workers: 2, ShutdownTimeout: 5 * time.Second})
	old := instancesOf(h.s, 0)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	for id := range old {
		if got := testutil.ExitStatuses(logs.String())[fmt.Sprint(id)]; got != "exit status 0" {
			t.Errorf("instance %d: %q, want exit status 0 (drained, not killed)", id, got)
		}
	}
}

// TestKillForcesShutdown: Kill during a shutdown that waits for a worker
// ignoring Drain ends it at once.
func TestKillForcesShutdown(t *testing.T) {
	h, _, _ := startSwitchable(t, "nodrain", "nodrain", Options{Workers: 1, ShutdownTimeout: time.Minute})
	done := make(chan error, 1)
	go func() { done <- h.stop() }()
	testutil.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if !h.s.isClosing() {
			return errors.New("not shutting down yet")
		}
		return nil
	})
	h.s.Kill()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Kill did not end the shutdown")
	}
}

func TestDrainDeadline(t *testing.T) {
	tests := []struct{ kill, want time.Duration }{
		{30 * time.Second, 29 * time.Second},
		{5 * time.Second, 4500 * time.Millisecond},
		{300 * time.Millisecond, 270 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := drainDeadline(tt.kill); got != tt.want {
			t.Errorf("drainDeadline(%v) = %v, want %v", tt.kill, got, tt.want)
		}
	}
}

// TestSupervisorNotifies: READY=1 once every worker is ready, WATCHDOG=1
// at half WATCHDOG_USEC, RELOADING=1 then READY=1 around Reload, STOPPING=1
// at shutdown, read from a real NOTIFY_SOCKET.
func TestSupervisorNotifies(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	ns := testutil.ListenNotify(t, sock)
	testutil.SetNotifyEnv(t, sock, "200000", "")
	n, err := systemd.NewNotifier()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	h, _, _ := startSwitchable(t, "ok", "ok", Options{Workers: 2, Notifier: n})
	if got, want := ns.NextNotice(), "READY=1\nSTATUS=2/2 workers ready (generation 0), 0 sessions"; got != want {
		t.Fatalf("first notification %q, want %q", got, want)
	}
	if h.readyCount() != 2 {
		t.Errorf("READY=1 before both workers were ready")
	}
	if err := h.s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := ns.NextNotice(); !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") || !strings.HasSuffix(got, "\nSTATUS=reloading: starting generation 1") {
		t.Errorf("at reload %q, want RELOADING=1 with MONOTONIC_USEC", got)
	}
	if got, want := ns.NextNotice(), "READY=1\nSTATUS=2/2 workers ready (generation 1)"; !strings.HasPrefix(got, want) {
		t.Errorf("after reload %q, want prefix %q", got, want)
	}
	ns.WaitWatchdogs(2)
	h.stop()
	if got := ns.NextNotice(); !strings.HasPrefix(got, "STOPPING=1") {
		t.Errorf("at shutdown %q, want STOPPING=1", got)
	}
}

// TestReloadDuringShutdownStartsNoTrial: a Reload that passed its running
// check just before shutdown began starts no trial slot afterwards (the
// trial goroutines start under the lock that shutdown's stop takes), so
// none outlives Run, and the Reload returns ErrShuttingDown. The test holds
// Reload between its check and its trial starts until Run has returned,
// then holds the routing lock, where a trial's spawn would wait, until
// Reload itself waits on it.
func TestReloadDuringShutdownStartsNoTrial(t *testing.T) {
	h := startSupervisor(t, "ok", Options{Workers: 1}, 1)
	reached, release := make(chan struct{}), make(chan struct{})
	h.s.reloadGate = func() {
		close(reached)
		<-release
	}
	reloaded := make(chan error, 1)
	go func() { reloaded <- h.s.Reload(context.Background()) }()
	<-reached
	if err := h.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	h.s.routingMu.Lock()
	close(release)
	testutil.CheckFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if !testutil.GoroutineIn("primary.(*Supervisor).Reload(", "(*Mutex).Lock") {
			return errors.New("Reload not yet waiting for the routing lock")
		}
		return nil
	})
	trialRunning := testutil.GoroutineIn("primary.(*Supervisor).trialSlot(")
	h.s.routingMu.Unlock()
	if trialRunning {
		t.Error("a trial slot goroutine started after Run returned")
	}
	if err := <-reloaded; !errors.Is(err, ErrShuttingDown) {
		t.Errorf("Reload = %v, want ErrShuttingDown", err)
	}
}
