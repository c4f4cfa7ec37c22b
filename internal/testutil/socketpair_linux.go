package testutil

import (
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// SocketPair returns the two ends of a connected SOCK_STREAM Unix socket
// pair (close-on-exec), as net.Conns the caller owns and must close. It
// fails the test when the pair cannot be made.
func SocketPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("testutil: socket pair: %v", err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socket-pair")
		c, err := net.FileConn(f) // dups fd
		f.Close()
		if err != nil {
			if i == 1 {
				conns[0].Close()
			} else {
				unix.Close(fds[1])
			}
			t.Fatalf("testutil: socket pair: %v", err)
		}
		conns[i] = c
	}
	return conns[0], conns[1]
}
