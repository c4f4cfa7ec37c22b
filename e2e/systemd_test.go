package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// TestNotifySequence: under Type=notify stickyd sends READY=1 once every
// worker is ready, WATCHDOG=1 at half WATCHDOG_USEC, RELOADING=1 with
// MONOTONIC_USEC then READY=1 around a reload, and STOPPING=1 on SIGTERM;
// workers do not inherit NOTIFY_SOCKET.
func TestNotifySequence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	nl := testutil.ListenNotify(t, path)
	nl.Wait = 30 * time.Second
	c := startCluster(t, 2, []string{"--control", controlPath(t), "--shutdown-timeout", "3s"},
		"NOTIFY_SOCKET="+path, "WATCHDOG_USEC=300000")
	msg := nl.NextNotice()
	if want := "READY=1\nSTATUS=2/2 workers ready (generation 0), 0 sessions"; msg != want {
		t.Fatalf("first notification %q, want %q", msg, want)
	}
	if n := c.readyWorkers(); n < 2 {
		t.Errorf("READY=1 sent with %d workers ready, want 2", n)
	}
	for _, line := range strings.Split(c.Logs(), "\n") {
		if strings.Contains(line, "worker started") {
			var pid int
			if _, err := fmt.Sscanf(line[strings.Index(line, "pid="):], "pid=%d", &pid); err == nil {
				for _, kv := range workerEnviron(t, pid) {
					if strings.HasPrefix(kv, "NOTIFY_SOCKET=") || strings.HasPrefix(kv, "WATCHDOG_") {
						t.Errorf("worker %d inherited %s", pid, kv)
					}
				}
			}
		}
	}
	nl.WaitWatchdogs(3)

	c.Signal(syscall.SIGHUP)
	msg = nl.NextNotice()
	var usec int64
	var status string
	if _, err := fmt.Sscanf(msg, "RELOADING=1\nMONOTONIC_USEC=%d\nSTATUS=%s", &usec, &status); err != nil || usec <= 0 {
		t.Fatalf("reload notification %q (%v), want RELOADING=1 and MONOTONIC_USEC", msg, err)
	}
	msg = nl.NextNotice()
	if want := "READY=1\nSTATUS=2/2 workers ready (generation 1)"; !strings.HasPrefix(msg, want) {
		t.Fatalf("after reload %q, want prefix %q", msg, want)
	}

	c.Signal(syscall.SIGTERM)
	msg = nl.NextNotice()
	if !strings.HasPrefix(msg, "STOPPING=1") {
		t.Fatalf("on SIGTERM %q, want STOPPING=1", msg)
	}
	<-c.done
}

// TestSocketActivation: with LISTEN_FDS/LISTEN_PID set (LISTEN_PID made the
// primary's own pid through sh's exec), stickyd serves the inherited
// listening socket, and its workers do not inherit the variables.
func TestSocketActivation(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close() // f keeps the socket listening
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	c := launch(t, 2, []string{"/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`}, []string{"--control", controlPath(t), "--shutdown-timeout", "3s"},
		[]*os.File{f}, "LISTEN_FDS=1", "LISTEN_FDNAMES=stickyd.socket")
	if c.Addr != addr {
		t.Fatalf("stickyd listens on %s, want the inherited %s", c.Addr, addr)
	}
	if !strings.Contains(c.Logs(), "socket activation") {
		t.Errorf("no log line about socket activation")
	}
	pc := newPollClient("http://"+addr, 1)
	defer pc.close()
	s := pc.open(t)
	pid := s.whoami(t)
	for _, kv := range workerEnviron(t, pid) {
		if strings.HasPrefix(kv, "LISTEN_") {
			t.Errorf("worker %d inherited %s", pid, kv)
		}
	}
	// The inherited fd is close-on-exec: no worker holds the listener.
	inode := listenInode(t, addr)
	holds := func(pid int) bool {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); target == "socket:["+inode+"]" {
				return true
			}
		}
		return false
	}
	if !holds(c.PID()) {
		t.Errorf("the primary (pid %d) does not hold the listener socket:[%s]", c.PID(), inode)
	}
	if holds(pid) {
		t.Errorf("worker %d holds the activated listener", pid)
	}
	c.Signal(syscall.SIGTERM)
	c.waitExit(t, 15*time.Second, "of SIGTERM")
}

// listenInode returns the socket inode of the TCP listener on addr
// (127.0.0.1:port), from /proc/net/tcp.
func listenInode(t testing.TB, addr string) string {
	t.Helper()
	inode, err := testutil.ListeningInode(addr)
	if err != nil || inode == "" {
		t.Fatalf("no listening socket %s in /proc/net/tcp (%v)", addr, err)
	}
	return inode
}

// TestSIGTERMDrainsWorkers: on SIGTERM the workers get Drain and exit by
// themselves (exit status 0, not SIGKILL), WebSocket clients see the
// connection closed, and stickyd exits 0 within the shutdown timeout, also
// with an open keep-alive connection and a session that is not polling;
// nothing is logged at warn or error level.
func TestSIGTERMDrainsWorkers(t *testing.T) {
	c := startCluster(t, 2, []string{"--shutdown-timeout", "4s", "--control", controlPath(t)}, noRaceExitDelay)
	ws, err := dialWS(c.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.close()
	pc := newPollClient(c.URL, 1)
	defer pc.close()
	s := pc.open(t) // an idle session on a kept-alive connection
	s.whoami(t)
	start := time.Now()
	c.Signal(syscall.SIGTERM)
	if err := ws.waitClosed(10 * time.Second); err != nil {
		t.Errorf("WebSocket on SIGTERM: %v", err)
	}
	c.waitExit(t, 10*time.Second, "of SIGTERM (shutdown timeout 4 s)")
	if took := time.Since(start); took > 6*time.Second {
		t.Errorf("stickyd took %v to stop, shutdown timeout 4 s", took)
	}
	if c.err != nil {
		t.Errorf("stickyd exited with %v, want 0", c.err)
	}
	st := testutil.ExitStatuses(c.Logs())
	if len(st) != 2 {
		t.Fatalf("exit statuses logged for %d workers, want 2: %v", len(st), st)
	}
	for inst, status := range st {
		if status != "exit status 0" {
			t.Errorf("worker instance %s: %s, want exit status 0 (drained, not killed)", inst, status)
		}
	}
	if strings.Contains(c.Logs(), "did not exit in time") {
		t.Errorf("workers had to be killed")
	}
	for _, line := range strings.Split(c.Logs(), "\n") {
		if strings.Contains(line, "[WARN]") || strings.Contains(line, "[ERROR]") {
			t.Errorf("a clean drain logged %q", line)
		}
	}
}

// TestSecondSignalKills: a second SIGTERM during the drain kills the
// workers at once.
func TestSecondSignalKills(t *testing.T) {
	c := startCluster(t, 1, []string{"--shutdown-timeout", "60s", "--control", controlPath(t)})
	pc := newPollClient(c.URL, 1)
	defer pc.close()
	pc.open(t) // never polls again: the worker would wait for it until its deadline
	c.Signal(syscall.SIGTERM)
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !strings.Contains(c.Logs(), "shutting down") {
			return errors.New("no 'shutting down' log yet")
		}
		return nil
	})
	start := time.Now()
	c.Signal(syscall.SIGTERM)
	c.waitExit(t, 10*time.Second, "of the second SIGTERM")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("second signal took %v to stop stickyd", took)
	}
	st := testutil.ExitStatuses(c.Logs())
	if len(st) != 1 {
		t.Fatalf("exit statuses logged for %d workers, want 1: %v", len(st), st)
	}
	for inst, status := range st {
		if status != "signal: killed" {
			t.Errorf("worker %s: %s, want signal: killed", inst, status)
		}
	}
}
