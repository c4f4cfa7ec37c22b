package systemd

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"golang.org/x/sys/unix"
)

// activationChildEnv makes TestActivationChild act as the activated process.
const activationChildEnv = "STICKYD_TEST_ACTIVATION_CHILD"

// activationReport is what the child prints about Listener.
type activationReport struct {
	Addr      string   // the listener's address; "" when none
	Err       string   // the error; "" when none
	EnvLeft   []string // activation variables still set afterwards
	CloExec   bool     // the listener's fd is close-on-exec
	PassedFDs []int    // passed fds (3, 4, ...) still open afterwards
}

// TestActivationChild is not a test: re-executed by the tests below with
// activationChildEnv set, it calls Listener as the activated
// process, prints an activationReport line, then serves one connection by
// writing "activated <pid>" on it.
func TestActivationChild(t *testing.T) {
	nfds := os.Getenv(activationChildEnv)
	if nfds == "" {
		t.Skip("helper process for the activation tests")
	}
	ln, err := Listener()
	var rep activationReport
	if err != nil {
		rep.Err = err.Error()
	}
	for _, k := range []string{EnvListenFDs, EnvListenPID, EnvListenFDNames} {
		if _, ok := os.LookupEnv(k); ok {
			rep.EnvLeft = append(rep.EnvLeft, k)
		}
	}
	var n int
	fmt.Sscan(nfds, &n)
	for fd := listenFDsStart; fd < listenFDsStart+n; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			rep.PassedFDs = append(rep.PassedFDs, fd)
		}
	}
	if ln != nil {
		rep.Addr = ln.Addr().String()
		rc, _ := ln.(*net.TCPListener).SyscallConn()
		rc.Control(func(fd uintptr) {
			flags, err := unix.FcntlInt(fd, unix.F_GETFD, 0)
			rep.CloExec = err == nil && flags&unix.FD_CLOEXEC != 0
		})
	}
	json.NewEncoder(os.Stdout).Encode(rep)
	if ln == nil {
		os.Exit(0)
	}
	c, err := ln.Accept()
	if err == nil {
		fmt.Fprintf(c, "activated %d", os.Getpid())
		c.Close()
	}
	ln.Close()
	os.Exit(0)
}

// runActivated starts the test binary as an activated child through
// `sh -c 'LISTEN_PID=$$ exec ...'` (so LISTEN_PID is the child's own pid,
// as systemd sets it) with files as fds 3, 4, ... and env added; pidEnv
// overrides the LISTEN_PID assignment ("" keeps $$). It returns the child's
// report and a reader of the rest of its output.
func runActivated(t *testing.T, files []*os.File, pidEnv string, env ...string) (activationReport, *exec.Cmd) {
	t.Helper()
	if pidEnv == "" {
		pidEnv = "$$"
	}
	cmd := exec.Command("/bin/sh", "-c", "LISTEN_PID="+pidEnv+` exec "$0" "$@"`, os.Args[0], "-test.run=^TestActivationChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), append(env, fmt.Sprintf("%s=%d", activationChildEnv, len(files)))...)
	cmd.ExtraFiles = files
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		f.Close()
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child report: %q %v", line, err)
	}
	var rep activationReport
	if err := json.Unmarshal([]byte(line), &rep); err != nil {
		t.Fatalf("child report %q: %v", line, err)
	}
	return rep, cmd
}

func tcpListenerFile(t *testing.T) (*os.File, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	return f, ln.Addr().String()
}

// TestActivationListener: a listening socket inherited as fd 3 becomes the
// listener (close-on-exec, the environment cleared, fd 3 itself closed) and
// accepts the connections of the socket's address.
func TestActivationListener(t *testing.T) {
	warm, _ := tcpListenerFile(t) // the poller's own fds open once
	warm.Close()
	fdsBefore := testutil.FDCount(t)
	f, addr := tcpListenerFile(t)
	rep, cmd := runActivated(t, []*os.File{f}, "", EnvListenFDs+"=1", EnvListenFDNames+"=http")
	if rep.Err != "" || rep.Addr != addr {
		t.Fatalf("child: listener %q error %q, want %s and no error", rep.Addr, rep.Err, addr)
	}
	if len(rep.EnvLeft) != 0 {
		t.Errorf("child still has %v set; workers would inherit them", rep.EnvLeft)
	}
	if !rep.CloExec {
		t.Errorf("activated listener is not close-on-exec")
	}
	if len(rep.PassedFDs) != 0 {
		t.Errorf("passed fds %v still open in the child", rep.PassedFDs)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	c.Close()
	if got, want := string(b), fmt.Sprintf("activated %d", cmd.Process.Pid); got != want || err != nil {
		t.Errorf("served %q (%v), want %q", got, err, want)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("child: %v", err)
	}
	if got := testutil.FDCount(t); got != fdsBefore {
		t.Errorf("test process fds: %d before, %d after", fdsBefore, got)
	}
}

// TestActivationBadInput: what each invalid activation gets.
func TestActivationBadInput(t *testing.T) {
	udpFile := func(t *testing.T) *os.File {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer u.Close()
		f, err := u.(*net.UDPConn).File()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	tests := []struct {
		name    string
		files   func(t *testing.T) []*os.File
		pid     string
		env     []string
		wantErr string // "" means no listener and no error
	}{
		{"for another pid", func(t *testing.T) []*os.File { f, _ := tcpListenerFile(t); return []*os.File{f} }, "1",
			[]string{EnvListenFDs + "=1"}, ""},
		{"datagram socket", func(t *testing.T) []*os.File { return []*os.File{udpFile(t)} }, "",
			[]string{EnvListenFDs + "=1"}, "systemd: socket activation: fd 3"},
		{"two listeners", func(t *testing.T) []*os.File {
			a, _ := tcpListenerFile(t)
			b, _ := tcpListenerFile(t)
			return []*os.File{a, b}
		}, "", []string{EnvListenFDs + "=2"}, "want one TCP listening socket, got 2"},
		{"bad count", func(t *testing.T) []*os.File { return nil }, "",
			[]string{EnvListenFDs + "=many"}, `LISTEN_FDS="many"`},
		{"names mismatch", func(t *testing.T) []*os.File { f, _ := tcpListenerFile(t); return []*os.File{f} }, "",
			[]string{EnvListenFDs + "=1", EnvListenFDNames + "=a:b"}, "has 2 names for 1 fds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, cmd := runActivated(t, tt.files(t), tt.pid, tt.env...)
			if rep.Addr != "" {
				t.Errorf("got listener %s, want none", rep.Addr)
			}
			if tt.wantErr == "" && rep.Err != "" || !strings.Contains(rep.Err, tt.wantErr) {
				t.Errorf("error %q, want it to contain %q", rep.Err, tt.wantErr)
			}
			if tt.wantErr != "" && !strings.HasPrefix(rep.Err, ErrActivation.Error()) {
				t.Errorf("error %q does not wrap ErrActivation", rep.Err)
			}
			if len(rep.EnvLeft) != 0 {
				t.Errorf("child still has %v set", rep.EnvLeft)
			}
			if tt.pid == "" && tt.wantErr != "" && !strings.Contains(tt.wantErr, "LISTEN_FDS=") && len(rep.PassedFDs) != 0 {
				t.Errorf("passed fds %v left open after the error", rep.PassedFDs)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("child: %v", err)
			}
		})
	}
}

func TestParseActivationEnv(t *testing.T) {
	tests := []struct {
		env       map[string]string
		wantN     int
		wantNames []string
		wantErr   error
	}{
		{map[string]string{}, 0, nil, nil},
		{map[string]string{EnvListenFDs: "1", EnvListenPID: "42"}, 1, []string{""}, nil},
		{map[string]string{EnvListenFDs: "2"}, 2, []string{"", ""}, nil},
		{map[string]string{EnvListenFDs: "2", EnvListenFDNames: "web:admin"}, 2, []string{"web", "admin"}, nil},
		{map[string]string{EnvListenFDs: "1", EnvListenPID: "43"}, 0, nil, nil},
		{map[string]string{EnvListenFDs: "1", EnvListenPID: "me"}, 0, nil, ErrActivation},
		{map[string]string{EnvListenFDs: "-1"}, 0, nil, ErrActivation},
		{map[string]string{EnvListenFDs: "1", EnvListenFDNames: "a:b"}, 1, nil, ErrActivation},
	}
	for _, tt := range tests {
		n, names, err := parseActivationEnv(func(k string) string { return tt.env[k] }, 42)
		if !errors.Is(err, tt.wantErr) || n != tt.wantN || fmt.Sprint(names) != fmt.Sprint(tt.wantNames) {
			t.Errorf("%v: got %d %q %v, want %d %q %v", tt.env, n, names, err, tt.wantN, tt.wantNames, tt.wantErr)
		}
	}
}
