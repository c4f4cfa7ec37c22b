package ipc

import (
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"golang.org/x/sys/unix"
)

// leakWait is how long ipc tests give fds and goroutines to come back to
// their baseline (testutil.CheckNoLeaks).
var leakWait = testutil.Within(2*time.Second, 5*time.Millisecond)

// controlPair returns both ends of a control link over a real listener.
func controlPair(t testing.TB) (client, server *ControlConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctl.sock")
	l, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type res struct {
		c   *net.UnixConn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := l.AcceptUnix(); ch <- res{c, err} }()
	client, err = DialControl(path)
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	server = NewControlConn(r.c)
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// sendRaw writes b with the given fds attached, bypassing Send's checks.
func sendRaw(t testing.TB, c *ControlConn, b []byte, fds ...int) {
	t.Helper()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := c.uc.WriteMsgUnix(b, oob, nil); err != nil {
		t.Fatal(err)
	}
}

// connFD runs fn with the raw fd of c.
func connFD(t testing.TB, c syscall.Conn, fn func(fd int)) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(fd uintptr) { fn(int(fd)) }); err != nil {
		t.Fatal(err)
	}
}
