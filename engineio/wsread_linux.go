//go:build linux && !stickyd_portable

// The Linux read path of a websocket with a raw fd: gorilla reads through
// a bufio.Reader of wsFrameBufSize over a connReader, which reads the
// socket with raw read(2) (internal/rawsys) inside the callbacks of its
// syscall.RawConn, so that Go's poller still waits and keeps deadlines.
// wsread_other.go is the path of every other OS (and of the
// stickyd_portable build tag): no connReader, gorilla's buffer is
// wsReadBufferSize over the connection.

package engineio

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"

	"github.com/stickyd/stickyd/internal/rawsys"
	"golang.org/x/sys/unix"
)

// connReader is what gorilla's small bufio.Reader reads: the socket,
// through a buffer of wsReadChunk bytes taken from the server's pool
// (Server.readChunks) when the socket has bytes and given back as soon as
// they have all been read, so that a connection waiting for bytes (a
// parked one, a reader blocked in a read) holds none. Reads of at least
// wsReadChunk bytes go straight into the caller's slice.
//
// One reader at a time (the transport's reader of the moment) uses it;
// the zero connReader is unusable: call init.
type connReader struct {
	owner  *wsTransport // lifts its idle read deadline for a read in the middle of a message (nil: none)
	rc     syscall.RawConn
	pool   *sync.Pool         // of *[]byte of wsReadChunk bytes
	buf    *[]byte            // the pooled buffer, held while r < w (nil otherwise); in a direct read, the caller's slice
	readFn func(uintptr) bool // c.readOnFD, bound once (a RawConn callback escapes)
	r, w   int32              // unread bytes: (*buf)[r:w]; w is also readOnFD's count
	errno  int32              // readOnFD's failed read(2), a syscall.Errno
	direct bool               // buf is the caller's slice: a direct read
}

// init prepares c to read the non-blocking socket of rc, owner's, with
// buffers of pool (*[]byte of wsReadChunk bytes).
func (c *connReader) init(rc syscall.RawConn, pool *sync.Pool, owner *wsTransport) {
	c.rc, c.pool, c.owner = rc, pool, owner
	c.readFn = c.readOnFD
}

// Buffered returns how many bytes c read from the socket that were not
// read from c yet.
func (c *connReader) Buffered() int { return int(c.w - c.r) }

// Read reads into p what c holds, else what the socket has, waiting for
// bytes (under the connection's read deadline); at the end of the stream
// it returns io.EOF. It reads the socket straight into p when p is at
// least wsReadChunk bytes long. A wait that meets the owner's idle
// deadline (waitReadable's, left set) lifts it and waits on: only fill's
// wait ends at it.
func (c *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for c.buf == nil {
		var n int
		var err error
		if len(p) >= wsReadChunk {
			if n, err = c.readDirect(p); err == nil {
				return n, nil
			}
		} else {
			_, err = c.read(nil)
		}
		if err != nil && !(c.owner != nil && errors.Is(err, os.ErrDeadlineExceeded) && c.owner.liftIdleDeadline()) {
			return 0, err
		}
	}
	n := copy(p, (*c.buf)[c.r:c.w])
	c.r += int32(n)
	if c.r == c.w {
		c.putBuf()
	}
	return n, nil
}

// readDirect reads the socket straight into p. It is not inlined: p is
// moved to the heap (c.buf points to it during the read), which Read's
// other paths must not pay.
//
//go:noinline
func (c *connReader) readDirect(p []byte) (int, error) { return c.read(&p) }

// fill waits for bytes and reads them into a pooled buffer, unless c
// holds some already. Its error is the poller's (deadline exceeded, the
// connection closed), the read's, or io.EOF; nothing is held then.
func (c *connReader) fill() error {
	if c.buf != nil {
		return nil
	}
	_, err := c.read(nil)
	return err
}

// read makes one read(2) of the socket, waiting for readability: into *p,
// or, p being nil, into a pooled buffer that c then holds (r, w).
func (c *connReader) read(p *[]byte) (int, error) {
	c.buf, c.direct, c.errno, c.w = p, p != nil, 0, 0
	err := c.rc.Read(c.readFn)
	if err == nil && c.errno != 0 {
		err = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.Errno(c.errno))}
	}
	if err == nil && c.w == 0 {
		err = io.EOF
	}
	n := int(c.w)
	if err != nil || c.direct {
		c.putBuf() // nothing held
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

// readOnFD is one read(2) of the socket (RawConn.Read callback) into
// c.buf, a pooled buffer that it takes unless the read is direct; when
// the socket has no bytes, it gives the pooled buffer back and reports
// false: the poller waits for readability, and calls it again.
func (c *connReader) readOnFD(fd uintptr) bool {
	if !c.direct {
		c.buf = c.pool.Get().(*[]byte)
	}
	n, errno := rawsys.Read(int(fd), *c.buf)
	if errno == unix.EAGAIN {
		if !c.direct {
			c.putBuf()
		}
		return false
	}
	c.errno, c.r, c.w = int32(errno), 0, int32(max(n, 0))
	return true
}

// hold makes p (bytes read from the socket by someone else: the poller,
// takeParkedPong) the next bytes c returns. c holds nothing.
func (c *connReader) hold(p []byte) {
	c.buf, c.direct = c.pool.Get().(*[]byte), false
	c.r, c.w = 0, int32(copy(*c.buf, p))
}

// putBuf gives the pooled buffer back (a direct read's is dropped), if c
// holds one.
func (c *connReader) putBuf() {
	if c.buf != nil && !c.direct {
		c.pool.Put(c.buf)
	}
	c.buf, c.direct, c.r, c.w = nil, false, 0, 0
}
