//go:build !linux

package peercred

import "syscall"

// UID fails with ErrUnsupported outside Linux.
func UID(syscall.Conn) (uint32, error) { return 0, ErrUnsupported }
