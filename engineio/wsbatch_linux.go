//go:build linux && !stickyd_portable

// The Linux write path of a websocket batch: raw write(2) and writev(2)
// (internal/rawsys) on the socket's fd, inside the callbacks of its
// syscall.RawConn, so that Go's poller still waits and keeps deadlines.
// wsbatch_other.go is the path of every other OS (and of the
// stickyd_portable build tag, which runs it on Linux in CI).

package engineio

import (
	"net"
	"runtime"
	"syscall"
	"unsafe"

	"github.com/stickyd/stickyd/internal/rawsys"
	"golang.org/x/sys/unix"
)

// maxIOV bounds the buffers of one writev call (Linux IOV_MAX is 1024).
const maxIOV = 512

// rawWriter is what the raw write path keeps between batches.
type rawWriter struct {
	vecs  []unix.Iovec       // writev's view of iov, reused
	tryFn func(uintptr) bool // b.tryOnFD, bound once (a RawConn callback escapes)
	allFn func(uintptr) bool // b.allOnFD, bound once
	werr  error              // the last write error of tryFn/allFn
}

// release drops the writev array (the reset of a large batch).
func (w *rawWriter) release() { w.vecs = nil }

// rawConnOf returns the RawConn through which a transport writes nc with
// raw system calls, nil when nc has no non-blocking fd (TLS): then nothing
// is written inline and the writer goroutine writes with writeConn. It
// makes one fcntl: call it once per connection.
func rawConnOf(nc net.Conn) syscall.RawConn { return rawsys.RawConnOf(nc) }

// writeOnce is one write of b on fd, a writev of up to maxIOV buffers
// when b has more than one; it advances b by what was written.
func (b *wsBatch) writeOnce(fd int) error {
	// Raw (see internal/rawsys): newWSTransport checked that the socket is
	// non-blocking.
	var r int
	var errno unix.Errno
	if iov := b.iov; len(iov) == 1 {
		r, errno = rawsys.Write(fd, iov[0])
	} else {
		if len(iov) > maxIOV {
			iov = iov[:maxIOV]
		}
		vecs := b.raw.vecs[:0]
		for _, p := range iov {
			v := unix.Iovec{Base: unsafe.SliceData(p)}
			v.SetLen(len(p))
			vecs = append(vecs, v)
		}
		b.raw.vecs = vecs
		r, errno = rawsys.Writev(fd, vecs)
		runtime.KeepAlive(iov)
		clear(vecs) // drop the pointers into payloads
	}
	if errno != 0 {
		return errno
	}
	b.advance(r)
	return nil
}

// tryOnFD writes as much as fd takes now (RawConn.Write callback).
func (b *wsBatch) tryOnFD(fd uintptr) bool {
	for b.pending() {
		if b.raw.werr = b.writeOnce(int(fd)); b.raw.werr != nil {
			break
		}
	}
	return true // never wait: the caller hands a rest to the writer
}

// allOnFD writes everything, waiting for writability (RawConn.Write
// callback).
func (b *wsBatch) allOnFD(fd uintptr) bool {
	for b.pending() {
		b.raw.werr = b.writeOnce(int(fd))
		switch b.raw.werr {
		case nil, unix.EINTR:
			continue
		case unix.EAGAIN:
			b.raw.werr = nil
			return false // wait until writable (or the deadline)
		}
		return true
	}
	return true
}

// tryWrite writes as much of b as the socket takes without blocking. It
// returns nil when b is fully written, errWouldBlock when the socket is
// full (or rc is nil: the connection has no fd to write without blocking,
// e.g. TLS), or the write error.
func (b *wsBatch) tryWrite(rc syscall.RawConn) error {
	if rc == nil {
		return errWouldBlock
	}
	if b.raw.tryFn == nil {
		b.raw.tryFn = b.tryOnFD
	}
	b.raw.werr = nil
	if err := rc.Write(b.raw.tryFn); err != nil {
		return err
	}
	switch b.raw.werr {
	case unix.EAGAIN, unix.EINTR:
		return errWouldBlock // the writer goroutine goes on
	}
	return b.raw.werr
}

// writeAll writes all of b, blocking until done or the connection's write
// deadline passes. Without rc (no fd: TLS) it is writeConn.
func (b *wsBatch) writeAll(nc net.Conn, rc syscall.RawConn) error {
	if rc == nil {
		return b.writeConn(nc)
	}
	if b.raw.allFn == nil {
		b.raw.allFn = b.allOnFD
	}
	b.raw.werr = nil
	if err := rc.Write(b.raw.allFn); err != nil {
		return err
	}
	return b.raw.werr
}
