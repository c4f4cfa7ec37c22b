package worker

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stickyd/stickyd/internal/growstack"
	"github.com/stickyd/stickyd/internal/rawsys"
	"golang.org/x/sys/unix"
)

// Conn is a client connection handed off by the primary. Read first returns
// the prefix bytes the primary sent with it, then reads the socket.
// RemoteAddr is the client address the primary reported. Close releases the
// Listener's count of live connections.
//
// A Conn holds the received fd as the *os.File ipc.ControlConn.Recv made
// of it: the fd is non-blocking (Recv sees to it), so the File is
// registered with Go's poller and Read, Write (raw system calls under the
// poller, see internal/rawsys) and the deadlines work as a net.TCPConn's
// do, without the dup and the queries net.FileConn would make. Errors
// are what a *net.TCPConn returns (*net.OpError, net.ErrClosed after
// Close, a timeout error at a deadline). The socket's
// options (TCP_NODELAY, keep-alive) are the primary's: it set them on its
// listener, which every accepted socket inherits.
//
// Like a net.Conn, a Conn is safe for concurrent use: one reader and one
// writer at a time, deadlines and Close from any goroutine.
type Conn struct {
	f      *os.File
	io     rawsys.Stream // raw reads and writes of f's socket
	rw     io.ReadWriter // &io, or f itself for a blocking fd
	l      *Listener
	id     uint64
	remote net.Addr
	local  connAddr

	read      atomic.Bool // Read was called: the stack was grown
	hasPrefix atomic.Bool
	pmu       sync.Mutex
	prefix    []byte

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool // set when Close begins
}

var (
	_ net.Conn     = (*Conn)(nil)
	_ syscall.Conn = (*Conn)(nil)
)

// connAddr is a Conn's LocalAddr. It points back to its Conn so that a
// handler can find the Conn a request arrived on through
// http.LocalAddrContextKey without hijacking it. The address itself is
// read from the socket (getsockname) on first use of String only: net/http
// asks every connection for its LocalAddr, few look at it.
type connAddr struct {
	c    *Conn
	mu   sync.Mutex
	addr net.Addr // nil until read
}

// Network returns "tcp".
func (a *connAddr) Network() string { return "tcp" }

// String returns the socket's local address ("" when it cannot be read:
// the Conn was closed before the first call).
func (a *connAddr) String() string {
	if ad := a.get(); ad != nil {
		return ad.String()
	}
	return ""
}

// get returns the local address, reading it from the socket until that
// succeeds once.
func (a *connAddr) get() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.addr != nil {
		return a.addr
	}
	a.c.io.RawConn().Control(func(fd uintptr) {
		if sa, err := unix.Getsockname(int(fd)); err == nil {
			a.addr = sockaddrTCP(sa)
		}
	})
	return a.addr
}

// known returns the local address if it has been read, else nil.
func (a *connAddr) known() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addr
}

// sockaddrTCP converts the socket address of a client socket: a TCP
// address, a Unix one for a TLS relay's socket pair, nil for others.
func sockaddrTCP(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
	case *unix.SockaddrInet6:
		a := &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				a.Zone = ifi.Name
			}
		}
		return a
	case *unix.SockaddrUnix: // a TLS relay's socket pair (stickyd --tls-cert)
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return nil
}

// newConn makes the Conn of f, a received client socket. remote is the
// client address from the primary; when nil it is read from the socket.
func newConn(l *Listener, f *os.File, id uint64, remote net.Addr, prefix []byte) *Conn {
	c := &Conn{f: f, l: l, id: id, remote: remote, prefix: prefix}
	c.local.c = c
	rc, _ := f.SyscallConn() // fails only for a nil *os.File
	c.io.Init(rc)
	// Recv makes every fd non-blocking, but for one it could not switch:
	// a File outside the poller (no deadlines) is blocking. (Asking the
	// poller costs no system call, unlike rawsys.RawConnOf.)
	c.rw = &c.io
	if f.SetReadDeadline(time.Time{}) != nil {
		c.rw = f
	}
	if remote == nil {
		rc.Control(func(fd uintptr) {
			if sa, err := unix.Getpeername(int(fd)); err == nil {
				c.remote = sockaddrTCP(sa)
			}
		})
	}
	c.hasPrefix.Store(len(prefix) > 0)
	return c
}

// ID returns the primary's id for this connection.
func (c *Conn) ID() uint64 { return c.id }

// Read reads the remaining prefix first, then the socket.
func (c *Conn) Read(b []byte) (int, error) {
	if !c.read.Load() {
		// The first Read is net/http's, on the goroutine that will read,
		// route and answer the request: a deep path (internal/growstack).
		c.read.Store(true)
		growstack.Grow()
	}
	if c.hasPrefix.Load() {
		c.pmu.Lock()
		if len(c.prefix) > 0 {
			n := copy(b, c.prefix)
			c.prefix = c.prefix[n:]
			if len(c.prefix) == 0 {
				c.prefix = nil
				c.hasPrefix.Store(false)
			}
			c.pmu.Unlock()
			return n, nil
		}
		c.pmu.Unlock()
	}
	n, err := c.rw.Read(b)
	return n, c.opError("read", err)
}

// takePrefix removes and returns the prefix bytes not yet read.
func (c *Conn) takePrefix() []byte {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	p := c.prefix
	c.prefix = nil
	c.hasPrefix.Store(false)
	return p
}

// Write writes to the socket.
func (c *Conn) Write(b []byte) (int, error) {
	n, err := c.rw.Write(b)
	return n, c.opError("write", err)
}

// Close closes the socket and releases the Listener's count. Idempotent.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.closeErr = c.opError("close", c.f.Close())
		c.l.connClosed()
	})
	return c.closeErr
}

// CloseWrite shuts down the writing side of the socket.
func (c *Conn) CloseWrite() error {
	var serr error
	if err := c.io.RawConn().Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), unix.SHUT_WR) }); err != nil {
		return c.opError("close", err)
	}
	if serr != nil {
		return c.opError("close", os.NewSyscallError("shutdown", serr))
	}
	return nil
}

// LocalAddr returns the socket's local address. It does not read it from
// the socket: its String method does, the first time.
func (c *Conn) LocalAddr() net.Addr { return &c.local }

// RemoteAddr returns the client address the primary reported.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the socket's deadlines; see net.Conn.
func (c *Conn) SetDeadline(t time.Time) error { return c.opError("set", c.f.SetDeadline(t)) }

// SetReadDeadline sets the socket's read deadline; see net.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.opError("set", c.f.SetReadDeadline(t)) }

// SetWriteDeadline sets the socket's write deadline; see net.Conn.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	return c.opError("set", c.f.SetWriteDeadline(t))
}

// SyscallConn returns the socket's raw connection. Bytes of the prefix not
// yet read are not in the socket.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.io.RawConn(), nil }

// opError turns an error of the File into the one a *net.TCPConn returns
// for the same failure, so that code that tells errors apart (net/http
// stays silent on a *net.OpError of a read, checks net.ErrClosed and
// timeouts) sees what it expects: a *net.OpError whose Err is
// net.ErrClosed after Close, the deadline error at a deadline, or the
// system call's error. nil and io.EOF pass unchanged.
func (c *Conn) opError(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, os.ErrClosed) || c.closed.Load() && !errors.Is(err, os.ErrDeadlineExceeded):
		// (os.File's deadline setters report a closed file with poll's
		// own error, which only the closed flag tells apart)
		err = net.ErrClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
	default:
		var errno syscall.Errno
		if errors.As(err, &errno) {
			err = os.NewSyscallError(op, errno)
		}
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.local.known(), Addr: c.remote, Err: err}
}
