//go:build linux

package rawsys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Read is read(2).
func Read(fd int, p []byte) (int, unix.Errno) {
	return call3(unix.SYS_READ, fd, unsafe.Pointer(unsafe.SliceData(p)), len(p))
}

// Write is write(2).
func Write(fd int, p []byte) (int, unix.Errno) {
	return call3(unix.SYS_WRITE, fd, unsafe.Pointer(unsafe.SliceData(p)), len(p))
}

// Writev is writev(2) of vecs.
func Writev(fd int, vecs []unix.Iovec) (int, unix.Errno) {
	return call3(unix.SYS_WRITEV, fd, unsafe.Pointer(unsafe.SliceData(vecs)), len(vecs))
}

// Peek copies the bytes waiting on the socket fd into p without consuming
// them or waiting: recv(2) with MSG_PEEK|MSG_DONTWAIT.
func Peek(fd int, p []byte) (int, unix.Errno) {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
		if e != unix.EINTR {
			return int(r), e
		}
	}
}

// Close is close(2). It is raw only where the caller knows that close
// cannot block: a socket without SO_LINGER, or one whose file description
// another process still holds.
func Close(fd int) unix.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	return e // EINTR: the fd is closed all the same on Linux
}

// Accept4 is accept4(2) of the listening socket fd with flags. sa is the
// peer's address for AF_INET and AF_INET6 and nil for any other family.
func Accept4(fd int, flags int) (nfd int, sa unix.Sockaddr, errno unix.Errno) {
	var rsa unix.RawSockaddrAny
	for {
		l := uint32(unix.SizeofSockaddrAny)
		r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)), uintptr(flags), 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return -1, nil, e
		}
		return int(r), inetSockaddr(&rsa), 0
	}
}

// inetSockaddr converts an AF_INET or AF_INET6 address; nil for others.
func inetSockaddr(rsa *unix.RawSockaddrAny) unix.Sockaddr {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		pp := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		sa := &unix.SockaddrInet4{Port: port(pp.Port), Addr: pp.Addr}
		return sa
	case unix.AF_INET6:
		pp := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		sa := &unix.SockaddrInet6{Port: port(pp.Port), ZoneId: pp.Scope_id, Addr: pp.Addr}
		return sa
	}
	return nil
}

// port converts a port in network byte order, as the kernel stores it.
func port(p uint16) int {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return int(b[0])<<8 | int(b[1])
}

// Sendmsg is sendmsg(2) of one buffer p with control data oob (nil for
// none) on the socket fd.
func Sendmsg(fd int, p, oob []byte, flags int) (int, unix.Errno) {
	var iov unix.Iovec
	msg := msghdr(p, oob, &iov)
	for {
		r, _, e := unix.RawSyscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
		if e != unix.EINTR {
			return int(r), e
		}
	}
}

// Recvmsg is recvmsg(2) into one buffer p and the control buffer oob on
// the socket fd; it returns the bytes of data and of control data read
// and the message's flags (MSG_TRUNC, MSG_CTRUNC).
func Recvmsg(fd int, p, oob []byte, flags int) (n, oobn, recvflags int, errno unix.Errno) {
	var iov unix.Iovec
	msg := msghdr(p, oob, &iov)
	for {
		r, _, e := unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, 0, 0, e
		}
		return int(r), int(msg.Controllen), int(msg.Flags), 0
	}
}

// msghdr is the message header of one buffer p (described by *iov) and
// the control buffer oob; nil buffers are left out.
func msghdr(p, oob []byte, iov *unix.Iovec) unix.Msghdr {
	var msg unix.Msghdr
	if len(p) > 0 {
		iov.Base = unsafe.SliceData(p)
		iov.SetLen(len(p))
		msg.Iov = iov
		msg.SetIovlen(1)
	}
	if len(oob) > 0 {
		msg.Control = unsafe.SliceData(oob)
		msg.SetControllen(len(oob))
	}
	return msg
}

// call3 makes the three-argument call trap(fd, p, n), retrying EINTR.
func call3(trap uintptr, fd int, p unsafe.Pointer, n int) (int, unix.Errno) {
	for {
		r, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(p), uintptr(n))
		if e != unix.EINTR {
			return int(r), e
		}
	}
}
