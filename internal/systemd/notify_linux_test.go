package systemd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

func TestNotifierSequence(t *testing.T) {
	for _, name := range []string{"path", "abstract"} {
		t.Run(name, func(t *testing.T) {
			addr := filepath.Join(t.TempDir(), "notify.sock")
			if name == "abstract" {
				addr = fmt.Sprintf("@stickyd-test-%d-%d", os.Getpid(), time.Now().UnixNano())
			}
			ns := testutil.ListenNotify(t, addr)
			fdsBefore := testutil.FDCount(t)
			testutil.SetNotifyEnv(t, addr, "", "")
			n, err := NewNotifier()
			if err != nil {
				t.Fatal(err)
			}
			if !n.Enabled() {
				t.Fatal("Enabled() = false with NOTIFY_SOCKET set")
			}
			if v, ok := os.LookupEnv(EnvNotifySocket); ok {
				t.Errorf("NOTIFY_SOCKET still set to %q; workers would inherit it", v)
			}
			before := monotonicUSec()
			steps := []struct {
				send func() error
				want string
			}{
				{func() error { return n.Ready("2/2 workers ready") }, "READY=1\nSTATUS=2/2 workers ready"},
				{func() error { return n.Reloading("reloading") }, "RELOADING=1\nMONOTONIC_USEC=*\nSTATUS=reloading"},
				{func() error { return n.Ready("reloaded") }, "READY=1\nSTATUS=reloaded"},
				{func() error { return n.Status("2/2 workers ready, 5 sessions") }, "STATUS=2/2 workers ready, 5 sessions"},
				{n.Watchdog, "WATCHDOG=1"},
				{func() error { return n.Stopping("stopping") }, "STOPPING=1\nSTATUS=stopping"},
			}
			for i, st := range steps {
				if err := st.send(); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				got := ns.Next()
				if strings.Contains(st.want, "MONOTONIC_USEC=*") {
					lines := strings.Split(got, "\n")
					if len(lines) != 3 || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
						t.Fatalf("step %d: got %q, want %q", i, got, st.want)
					}
					us, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
					if after := monotonicUSec(); err != nil || us < before || us > after {
						t.Errorf("MONOTONIC_USEC=%d (%v), want CLOCK_MONOTONIC in [%d, %d]", us, err, before, after)
					}
					got = strings.Join([]string{lines[0], "MONOTONIC_USEC=*", lines[2]}, "\n")
				}
				if got != st.want {
					t.Errorf("step %d: got %q, want %q", i, got, st.want)
				}
			}
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			if err := n.Close(); err != nil {
				t.Errorf("second Close = %v, want nil", err)
			}
			if err := n.Ready("x"); err != nil {
				t.Errorf("Ready after Close = %v, want nil (no-op)", err)
			}
			if got := testutil.FDCount(t); got != fdsBefore {
				t.Errorf("fds: %d before, %d after Close", fdsBefore, got)
			}
		})
	}
}

func TestNotifierEnv(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	testutil.ListenNotify(t, sock)
	self := strconv.Itoa(os.Getpid())
	tests := []struct {
		name            string
		sock, usec, pid string
		wantEnabled     bool
		wantWatchdog    time.Duration
		wantErr         error
	}{
		{"no socket", "", "", "", false, 0, nil},
		{"no socket, watchdog ignored", "", "1000000", "", false, 0, nil},
		{"socket, no watchdog", sock, "", "", true, 0, nil},
		{"watchdog, no pid", sock, "1000000", "", true, 500 * time.Millisecond, nil},
		{"watchdog for us", sock, "30000000", self, true, 15 * time.Second, nil},
		{"watchdog for another pid", sock, "1000000", "1", true, 0, nil},
		{"bad watchdog usec", sock, "soon", "", false, 0, ErrNotify},
		{"zero watchdog usec", sock, "0", "", false, 0, ErrNotify},
		{"missing socket", filepath.Join(t.TempDir(), "nope.sock"), "", "", false, 0, ErrNotify},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.SetNotifyEnv(t, tt.sock, tt.usec, tt.pid)
			n, err := NewNotifier()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("NewNotifier() error = %v, want %v", err, tt.wantErr)
			}
			for _, k := range []string{EnvNotifySocket, EnvWatchdogUSec, EnvWatchdogPID} {
				if v, ok := os.LookupEnv(k); ok {
					t.Errorf("%s still set to %q", k, v)
				}
			}
			if err != nil {
				if n != nil {
					t.Errorf("NewNotifier returned a Notifier with an error")
				}
				return
			}
			defer n.Close()
			if got, want := n.Enabled(), tt.wantEnabled; got != want {
				t.Errorf("Enabled() = %v, want %v", got, want)
			}
			if got, want := n.WatchdogInterval(), tt.wantWatchdog; got != want {
				t.Errorf("WatchdogInterval() = %v, want %v", got, want)
			}
		})
	}
}

func TestNilNotifierIsNoop(t *testing.T) {
	var n *Notifier
	if n.Enabled() || n.WatchdogInterval() != 0 {
		t.Fatal("nil Notifier claims to be enabled")
	}
	for _, err := range []error{n.Ready("x"), n.Reloading("x"), n.Stopping("x"), n.Status("x"), n.Watchdog(), n.Close()} {
		if err != nil {
			t.Errorf("nil Notifier: %v, want nil", err)
		}
	}
}

// TestNotifierPeerGone: a send to a socket that went away fails with ErrNotify.
func TestNotifierPeerGone(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	ns := testutil.ListenNotify(t, sock)
	testutil.SetNotifyEnv(t, sock, "", "")
	n, err := NewNotifier()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ns.Close()
	if err := n.Status("x"); !errors.Is(err, ErrNotify) {
		t.Errorf("Status to a closed socket = %v, want ErrNotify", err)
	}
}
