package worker

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is a client connection handed off by the primary. Read first returns
// the prefix bytes the primary sent with it, then reads the socket.
// RemoteAddr is the client address the primary reported. Close releases the
// Listener's count of live connections.
type Conn struct {
	tcp    *net.TCPConn
	l      *Listener
	id     uint64
	remote net.Addr
	local  *connAddr

	hasPrefix atomic.Bool
	pmu       sync.Mutex
	prefix    []byte

	closeOnce sync.Once
	closeErr  error
}

var (
	_ net.Conn     = (*Conn)(nil)
	_ syscall.Conn = (*Conn)(nil)
)

// connAddr is a Conn's LocalAddr. It points back to its Conn so that a
// handler can find the Conn a request arrived on through
// http.LocalAddrContextKey without hijacking it.
type connAddr struct {
	net.Addr
	c *Conn
}

func newConn(l *Listener, tcp *net.TCPConn, id uint64, remote net.Addr, prefix []byte) *Conn {
	c := &Conn{tcp: tcp, l: l, id: id, remote: remote, prefix: prefix}
	c.local = &connAddr{Addr: tcp.LocalAddr(), c: c}
	if remote == nil {
		c.remote = tcp.RemoteAddr()
	}
	c.hasPrefix.Store(len(prefix) > 0)
	return c
}

// ID returns the primary's id for this connection.
func (c *Conn) ID() uint64 { return c.id }

// Read reads the remaining prefix first, then the socket.
func (c *Conn) Read(b []byte) (int, error) {
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
	return c.tcp.Read(b)
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
func (c *Conn) Write(b []byte) (int, error) { return c.tcp.Write(b) }

// Close closes the socket and releases the Listener's count. Idempotent.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.tcp.Close()
		c.l.connClosed()
	})
	return c.closeErr
}

// CloseWrite shuts down the writing side of the socket.
func (c *Conn) CloseWrite() error { return c.tcp.CloseWrite() }

// LocalAddr returns the socket's local address.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the client address the primary reported.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the socket's deadlines; see net.Conn.
func (c *Conn) SetDeadline(t time.Time) error { return c.tcp.SetDeadline(t) }

// SetReadDeadline sets the socket's read deadline; see net.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.tcp.SetReadDeadline(t) }

// SetWriteDeadline sets the socket's write deadline; see net.Conn.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.tcp.SetWriteDeadline(t) }

// SyscallConn returns the socket's raw connection. Bytes of the prefix not
// yet read are not in the socket.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.tcp.SyscallConn() }
