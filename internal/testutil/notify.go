package testutil

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// NotifySocket is a real unixgram socket standing in for systemd's
// NOTIFY_SOCKET. Its methods are for the test's goroutine only.
type NotifySocket struct {
	// Wait bounds each read (5 s unless set); reaching it fails the test.
	Wait time.Duration
	// Watchdogs counts the WATCHDOG=1 datagrams NextNotice and
	// WaitWatchdogs have read.
	Watchdogs int

	t    testing.TB
	conn *net.UnixConn
}

// ListenNotify binds a NotifySocket at path (a leading '@' makes it
// abstract); a cleanup of t closes it.
func ListenNotify(t testing.TB, path string) *NotifySocket {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &NotifySocket{Wait: 5 * time.Second, t: t, conn: c}
}

// Next reads one datagram, failing the test when none comes within Wait.
func (ns *NotifySocket) Next() string {
	ns.t.Helper()
	buf := make([]byte, 4096)
	ns.conn.SetReadDeadline(time.Now().Add(ns.Wait))
	n, err := ns.conn.Read(buf)
	if err != nil {
		ns.t.Fatalf("reading notify socket: %v", err)
	}
	return string(buf[:n])
}

// NextNotice returns the next datagram that is not a WATCHDOG=1 ping
// (counted in Watchdogs) or a bare STATUS= update, as Next does.
func (ns *NotifySocket) NextNotice() string {
	ns.t.Helper()
	for {
		msg := ns.Next()
		switch {
		case msg == "WATCHDOG=1":
			ns.Watchdogs++
		case strings.HasPrefix(msg, "STATUS="):
		default:
			return msg
		}
	}
}

// WaitWatchdogs reads until Watchdogs reaches n; a datagram other than a
// ping or a bare STATUS= update fails the test.
func (ns *NotifySocket) WaitWatchdogs(n int) {
	ns.t.Helper()
	for ns.Watchdogs < n {
		switch msg := ns.Next(); {
		case msg == "WATCHDOG=1":
			ns.Watchdogs++
		case !strings.HasPrefix(msg, "STATUS="):
			ns.t.Fatalf("unexpected %q while waiting for watchdog pings", msg)
		}
	}
}

// SetNotifyEnv sets NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID for the
// rest of t (an empty value unsets the variable), as systemd would set
// them for a Type=notify service.
func SetNotifyEnv(t testing.TB, sock, usec, pid string) {
	t.Helper()
	for k, v := range map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": usec, "WATCHDOG_PID": pid} {
		t.Setenv(k, v)
		if v == "" {
			os.Unsetenv(k)
		}
	}
}

// Close closes the socket: systemd gone. Idempotent.
func (ns *NotifySocket) Close() { ns.conn.Close() }
