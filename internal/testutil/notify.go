package testutil

import (
	"net"
	"os"
	"testing"
	"time"
)

// NotifySocket is a real unixgram socket standing in for systemd's
// NOTIFY_SOCKET.
type NotifySocket struct {
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
	return &NotifySocket{t: t, conn: c}
}

// Next reads one datagram, failing the test when none comes within 5 s.
func (ns *NotifySocket) Next() string {
	ns.t.Helper()
	buf := make([]byte, 4096)
	ns.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := ns.conn.Read(buf)
	if err != nil {
		ns.t.Fatalf("reading notify socket: %v", err)
	}
	return string(buf[:n])
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
