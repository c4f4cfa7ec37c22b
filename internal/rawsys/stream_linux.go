//go:build linux

package rawsys

import (
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Stream reads and writes a non-blocking stream socket with this
// package's raw calls inside the callbacks of the socket's
// syscall.RawConn, which keep Go's poller in charge of waiting and of
// deadlines. It is what a net.Conn's Read and Write do, minus the
// runtime's syscall bookkeeping.
//
// Errors are the RawConn's (the poller's deadline or closed error, as the
// RawConn wraps it) or an *os.SyscallError of the failed call; the caller
// dresses them as its own API needs.
//
// One Read and one Write may run at a time, each under its own mutex
// (a net.Conn allows concurrent calls; the mutexes serialise them as the
// poller's own locks would). The zero Stream is unusable: call Init.
type Stream struct {
	rc syscall.RawConn

	rmu    sync.Mutex
	rb     []byte
	rn     int
	rerr   error
	readFn func(uintptr) bool // rc.Read callback, made once

	wmu     sync.Mutex
	wb      []byte
	wn      int
	werr    error
	writeFn func(uintptr) bool // rc.Write callback, made once
	tryFn   func(uintptr) bool // rc.Write callback of TryWrite, made once
}

// RawConnOf returns the syscall.RawConn of c when c has an fd in
// non-blocking mode (every socket of package net has), which a Stream, or
// any raw call of this package, needs; nil otherwise: c is no
// syscall.Conn (a TLS or wrapping conn), or its fd blocks. It makes one
// fcntl(F_GETFL): call it once per connection, not per call.
func RawConnOf(c any) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	fl := -1
	if rc.Control(func(fd uintptr) { fl, _ = unix.FcntlInt(fd, unix.F_GETFL, 0) }) != nil || fl < 0 || fl&unix.O_NONBLOCK == 0 {
		return nil
	}
	return rc
}

// Init prepares s for the socket of rc, which must be non-blocking.
func (s *Stream) Init(rc syscall.RawConn) {
	s.rc = rc
	s.readFn = s.readOnFD
	s.writeFn = s.writeOnFD
	s.tryFn = s.tryOnFD
}

// RawConn returns the RawConn s was made for.
func (s *Stream) RawConn() syscall.RawConn { return s.rc }

// Read reads into b as os.File.Read does: at least one byte, io.EOF at
// the end of the stream; 0, nil for an empty b.
func (s *Stream) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.rb, s.rn, s.rerr = b, 0, nil
	err := s.rc.Read(s.readFn)
	s.rb = nil
	if err == nil {
		err = s.rerr
	}
	if err != nil {
		return 0, err
	}
	if s.rn == 0 {
		return 0, io.EOF
	}
	return s.rn, nil
}

// readOnFD is one read(2) of the socket; false asks the poller to wait
// for readability.
func (s *Stream) readOnFD(fd uintptr) bool {
	n, errno := Read(int(fd), s.rb)
	switch errno {
	case 0:
		s.rn = n
	case unix.EAGAIN:
		return false
	default:
		s.rerr = os.NewSyscallError("read", errno)
	}
	return true
}

// Write writes all of b as os.File.Write does, waiting for writability as
// often as it takes; it returns how much was written and why it stopped
// short.
func (s *Stream) Write(b []byte) (int, error) { return s.writeWith(b, s.writeFn) }

// TryWrite writes what the socket takes of b now and never waits for
// writability: it returns how much was written, short of len(b) with a
// nil error when the socket's buffer is full. It is serialised with Write.
func (s *Stream) TryWrite(b []byte) (int, error) { return s.writeWith(b, s.tryFn) }

// writeWith writes b through the RawConn callback fn (writeFn or tryFn),
// serialised with every other write, and returns how much was written.
func (s *Stream) writeWith(b []byte, fn func(uintptr) bool) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.wb, s.wn, s.werr = b, 0, nil
	err := s.rc.Write(fn)
	s.wb = nil
	if err == nil {
		err = s.werr
	}
	return s.wn, err
}

// tryOnFD is writeOnFD that never asks the poller to wait.
func (s *Stream) tryOnFD(fd uintptr) bool {
	s.writeOnFD(fd)
	return true
}

// writeOnFD writes what the socket takes of the rest of wb; false asks
// the poller to wait for writability.
func (s *Stream) writeOnFD(fd uintptr) bool {
	for s.wn < len(s.wb) {
		n, errno := Write(int(fd), s.wb[s.wn:])
		switch errno {
		case 0:
			if n == 0 { // never for a stream socket; do not spin
				s.werr = io.ErrShortWrite
				return true
			}
			s.wn += n
		case unix.EAGAIN:
			return false
		default:
			s.werr = os.NewSyscallError("write", errno)
			return true
		}
	}
	return true
}
