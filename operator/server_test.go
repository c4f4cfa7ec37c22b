package operator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

type fakeControlled struct {
	reloads atomic.Int32
	stops   atomic.Int32
	fail    atomic.Bool
	block   chan struct{} // when non-nil, Reload waits for it or ctx
}

func (f *fakeControlled) options(path string) Options {
	return Options{
		Path: path,
		Status: func() *StatusReport {
			return &StatusReport{PID: 42, Generation: 2, Workers: []WorkerReport{
				{Slot: 1, Instance: 7, PID: 100, Generation: 2, State: "ready", UptimeSec: 60, Sessions: 3, Connections: 4, Restarts: 1},
				{Slot: 1, Instance: 3, PID: 90, Generation: 1, State: "draining", Sessions: 1, Connections: 1},
			}, Totals: StatusTotals{Workers: 2, Ready: 1, Sessions: 4, Connections: 5}}
		},
		Reload: func(ctx context.Context) error {
			f.reloads.Add(1)
			if f.block != nil {
				select {
				case <-f.block:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if f.fail.Load() {
				return errors.New("primary: reload failed: worker 1 exited: exit status 1")
			}
			return nil
		},
		Stop: func() { f.stops.Add(1) },
	}
}

func TestServerCommands(t *testing.T) {
	leaks := testutil.TakeBaseline(t)
	path := filepath.Join(t.TempDir(), "sub", "control.sock")
	f := &fakeControlled{}
	cs, err := Listen(f.options(path))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Errorf("socket mode %v, want %v", got, want)
	}
	di, _ := os.Stat(filepath.Dir(path))
	if got, want := di.Mode().Perm(), os.FileMode(0o700); got != want {
		t.Errorf("socket dir mode %v, want %v", got, want)
	}
	ctx := context.Background()

	resp, err := Call(ctx, path, CommandStatus)
	if err != nil || resp.Status == nil {
		t.Fatalf("status: %+v %v", resp, err)
	}
	st := resp.Status
	if got, want := fmt.Sprintf("pid=%d gen=%d workers=%d totals=%+v", st.PID, st.Generation, len(st.Workers), st.Totals),
		"pid=42 gen=2 workers=2 totals={Workers:2 Ready:1 Sessions:4 Connections:5}"; got != want {
		t.Errorf("status: got %s, want %s", got, want)
	}
	if w := st.Workers[0]; w.State != "ready" || w.UptimeSec < 59 || w.Restarts != 1 || w.Connections != 4 {
		t.Errorf("status worker 0: %+v", w)
	}

	if _, err := Call(ctx, path, CommandReload); err != nil || f.reloads.Load() != 1 {
		t.Errorf("reload: %v, reloads %d", err, f.reloads.Load())
	}
	f.fail.Store(true)
	_, err = Call(ctx, path, CommandReload)
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "worker 1 exited: exit status 1") {
		t.Errorf("failed reload: %v, want ErrFailed with the reason", err)
	}
	if _, err := Call(ctx, path, CommandStop); err != nil || f.stops.Load() != 1 {
		t.Errorf("stop: %v, stops %d", err, f.stops.Load())
	}

	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cs.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after Close: %v", err)
	}
	if _, err := Call(ctx, path, CommandStatus); err == nil {
		t.Errorf("request after Close succeeded")
	}
	leaks.Check(t)
}

// TestServerBadInput: what each bad request gets.
func TestServerBadInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	cs, err := Listen((&fakeControlled{}).options(path))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	tests := []struct {
		name, req, want string
	}{
		{"unknown command", `{"command":"restart"}` + "\n", `{"ok":false,"error":"operator: bad command: unknown command \"restart\" (want status, reload or stop)"}`},
		{"not json", "status\n", `{"ok":false,"error":"operator: bad command: invalid character 's' looking for beginning of value"}`},
		{"no newline", `{"command":"status"}`, `{"ok":false,"error":"operator: bad command: reading request: EOF"}`},
		{"too long", strings.Repeat("x", 5000) + "\n", `{"ok":false,"error":"operator: bad command: reading request: bufio: buffer full"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tt.req)
			c.(*net.UnixConn).CloseWrite()
			b, err := io.ReadAll(c)
			if got := strings.TrimSpace(string(b)); got != tt.want || err != nil {
				t.Errorf("got %s (%v), want %s", got, err, tt.want)
			}
		})
	}
}

// TestServerOtherUser: a peer whose uid is not the server's gets
// "permission denied" and nothing runs.
func TestServerOtherUser(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	f := &fakeControlled{}
	cs, err := Listen(f.options(path))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	cs.uid.Store(int64(os.Getuid()) + 1) // we now look like another user to it
	_, err = Call(context.Background(), path, CommandStop)
	if want := "operator: permission denied: uid " + strconv.Itoa(os.Getuid()); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), want) {
		t.Errorf("stop from another uid: %v, want %q", err, want)
	}
	if f.stops.Load() != 0 {
		t.Errorf("stop ran for another uid")
	}
}

// TestServerInUseAndStale: a live server's path is refused; a stale
// socket file (its server died) is replaced.
func TestServerInUseAndStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	f := &fakeControlled{}
	cs, err := Listen(f.options(path))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(f.options(path)); !errors.Is(err, ErrInUse) {
		t.Errorf("second server on a live path: %v, want ErrInUse", err)
	}
	if _, err := Call(context.Background(), path, CommandStatus); err != nil {
		t.Errorf("first server broken by the refused second: %v", err)
	}
	cs.Close()

	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	cs, err = Listen(f.options(path))
	if err != nil {
		t.Fatalf("stale socket file not replaced: %v", err)
	}
	defer cs.Close()
	if _, err := Call(context.Background(), path, CommandStatus); err != nil {
		t.Errorf("after replacing a stale file: %v", err)
	}
}

// Bad input: a path that is a regular file (a --control typo) gets
// ErrNotSocket and the file is left as it was.
func TestServerPathNotSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fakeControlled{}
	if cs, err := Listen(f.options(path)); !errors.Is(err, ErrNotSocket) {
		if cs != nil {
			cs.Close()
		}
		t.Fatalf("Listen on a regular file: %v, want ErrNotSocket", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "keep me" {
		t.Fatalf("the file was touched: %q %v", b, err)
	}
}

// TestServerCloseCancelsReload: Close cancels a reload in progress
// and its client gets the error.
func TestServerCloseCancelsReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	f := &fakeControlled{block: make(chan struct{})}
	cs, err := Listen(f.options(path))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := Call(context.Background(), path, CommandReload)
		errc <- err
	}()
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if f.reloads.Load() == 0 {
			return errors.New("reload not started")
		}
		return nil
	})
	cs.Close()
	if err := <-errc; err == nil {
		t.Errorf("reload cut by Close reported success")
	}
}

func TestDefaultPath(t *testing.T) {
	uid := strconv.Itoa(os.Getuid())
	tests := []struct {
		runtimeDir, xdg, want string
	}{
		{"/run/stickyd", "/run/user/1000", "/run/stickyd/control.sock"},
		{"/run/a:/run/b", "", "/run/a/control.sock"},
		{"", "/run/user/1000", "/run/user/1000/stickyd/control.sock"},
		{"", "", filepath.Join(os.TempDir(), "stickyd-"+uid, "control.sock")},
	}
	for _, tt := range tests {
		t.Setenv("RUNTIME_DIRECTORY", tt.runtimeDir)
		t.Setenv("XDG_RUNTIME_DIR", tt.xdg)
		if got := DefaultPath(); got != tt.want {
			t.Errorf("RUNTIME_DIRECTORY=%q XDG_RUNTIME_DIR=%q: got %s, want %s", tt.runtimeDir, tt.xdg, got, tt.want)
		}
	}
}
