package peercred

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// UID returns the uid of the peer of c, a connected Unix socket. The error
// wraps the getsockopt failure.
func UID(c syscall.Conn) (uint32, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("peercred: %w", err)
	}
	var cred *unix.Ucred
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		cred, gerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, fmt.Errorf("peercred: %w", err)
	}
	if gerr != nil {
		return 0, fmt.Errorf("peercred: SO_PEERCRED: %w", gerr)
	}
	return cred.Uid, nil
}
