package primary

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stickyd/stickyd/httphead"
	"github.com/stickyd/stickyd/internal/rawsys"
	"github.com/stickyd/stickyd/ipc"
	"golang.org/x/sys/unix"
)

// Accept back-off after EMFILE/ENFILE and similar temporary errors.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// deferAcceptSeconds is the TCP_DEFER_ACCEPT of the public listener: the
// kernel queues a connection for accept only once its first bytes have
// arrived, so the primary's first peek almost always sees the whole
// request line. A client that stays silent is queued anyway after about
// this long (the kernel retransmits its SYN-ACK once, after 1 s, and
// completes the connection on the client's answer); it then gets
// PeekTimeout from accept like any connection. Until then it costs the
// primary nothing: no fd, no goroutine.
const deferAcceptSeconds = 1

// acceptBatch bounds the connections one poller wake-up accepts before the
// loop looks at the listener again, so that Close of a flooded listener
// does not wait for the flood to end.
const acceptBatch = 128

// sockOpt is an integer socket option.
type sockOpt struct {
	level, opt, value int
	name              string
}

// clientOpts are what net.TCPListener.Accept sets on every connection it
// returns: TCP_NODELAY (workers write small responses and frames and rely
// on it) and keep-alive with Go's defaults (idle 15 s, probes every 15 s,
// 9 of them). The primary sets them once on the listening socket; Linux
// copies a listener's options into each socket it accepts.
var clientOpts = [...]sockOpt{
	{unix.IPPROTO_TCP, unix.TCP_NODELAY, 1, "TCP_NODELAY"},
	{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1, "SO_KEEPALIVE"},
	{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15, "TCP_KEEPIDLE"},
	{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15, "TCP_KEEPINTVL"},
	{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9, "TCP_KEEPCNT"},
}

// publicListener is the client listener as the accept loop holds it.
// Close it, not ln.
type publicListener struct {
	ln net.Listener
	// raw is a dup of ln's socket held as a (non-blocking, pollable)
	// *os.File, for acceptRaw: the RawConn of a net.Listener cannot wait
	// for readability, a File's can. nil: accept with ln.Accept.
	raw     *os.File
	perConn bool // clientOpts must be set on each accepted socket
	closed  atomic.Bool
}

// publicListener prepares ln for acceptClients. A *net.TCPListener (from
// --listen or socket activation) is tuned (tuneListener) and dup'ed for
// acceptRaw; any other net.Listener, or one whose socket cannot be
// dup'ed, is accepted from with ln.Accept.
func (s *Supervisor) publicListener(ln net.Listener) *publicListener {
	pl := &publicListener{ln: ln}
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return pl
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return pl
	}
	pl.perConn = s.tuneListener(rc)
	dup := -1
	var derr error
	if err := rc.Control(func(fd uintptr) { dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		derr = err
	}
	if derr != nil {
		s.log.Warn("cannot dup the listening socket; accepting through net.Listener, every connection on the slow path", "error", derr)
		return pl
	}
	raw := os.NewFile(uintptr(dup), "listener")
	if err := raw.SetReadDeadline(time.Time{}); err != nil {
		// Not in Go's poller (a blocking socket): acceptRaw could not wait.
		raw.Close()
		s.log.Warn("cannot poll the listening socket; accepting through net.Listener, every connection on the slow path", "error", err)
		return pl
	}
	pl.raw = raw
	return pl
}

// Close closes the listener (and its dup): acceptClients returns.
func (pl *publicListener) Close() error {
	pl.closed.Store(true)
	if pl.raw != nil {
		pl.raw.Close()
	}
	return pl.ln.Close()
}

// acceptClients accepts client connections until pl is closed; it never
// blocks on one client or one worker. With a raw socket (a
// *net.TCPListener) it runs acceptRaw: a connection whose request line
// has arrived is routed and handed off on this goroutine, without a
// net.Conn, a goroutine or a timer (the fast path); any other connection
// gets serveClient on a goroutine of its own (the slow path). Otherwise
// it runs acceptNet, every connection on the slow path.
func (s *Supervisor) acceptClients(pl *publicListener) {
	s.log.Info("listening", "addr", pl.ln.Addr().String())
	if pl.raw != nil {
		s.acceptRaw(pl)
		return
	}
	s.acceptNet(pl.ln)
}

// acceptNet is the accept loop of a listener other than *net.TCPListener:
// net.Listener.Accept, every connection on the slow path.
func (s *Supervisor) acceptNet(ln net.Listener) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.acceptFailed(&delay, err)
			continue
		}
		delay = 0
		s.opts.Metrics.accepted()
		tc, ok := c.(*net.TCPConn)
		if !ok {
			s.log.Error("not a TCP connection; closing it", "error", ErrNotTCP, "type", c.RemoteAddr().Network())
			c.Close()
			continue
		}
		var peer netip.AddrPort
		if a, ok := tc.RemoteAddr().(*net.TCPAddr); ok {
			peer = a.AddrPort()
			peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
		}
		s.serveSlow(tc, peer, s.opts.Metrics.now())
	}
}

// acceptFailed logs a failed accept and waits out the next back-off step
// (from acceptBackoffMin, doubling up to acceptBackoffMax; *delay holds
// the last one, 0 after a success) or until shutdown begins.
func (s *Supervisor) acceptFailed(delay *time.Duration, err error) {
	if *delay == 0 {
		*delay = acceptBackoffMin
	} else {
		*delay = min(2**delay, acceptBackoffMax)
	}
	s.log.Error("accept failed; backing off", "error", err, "delay", *delay)
	t := time.NewTimer(*delay)
	select {
	case <-t.C:
	case <-s.stopping:
		t.Stop()
	}
}

// tuneListener sets TCP_DEFER_ACCEPT and clientOpts on the listening
// socket behind rc. An option the socket refuses is logged; it returns
// true when clientOpts must be set on each accepted socket instead.
func (s *Supervisor) tuneListener(rc syscall.RawConn) (perConn bool) {
	err := rc.Control(func(fd uintptr) {
		if err := unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, deferAcceptSeconds); err != nil {
			s.log.Warn("cannot set TCP_DEFER_ACCEPT on the listener: connections are accepted before their request line, more of them take the slow path", "error", err)
		}
		for _, o := range clientOpts {
			if err := unix.SetsockoptInt(int(fd), o.level, o.opt, o.value); err != nil {
				s.log.Warn("cannot set a socket option on the listener; setting it on every connection", "option", o.name, "error", err)
				perConn = true
			}
		}
	})
	return perConn || err != nil
}

// inheritsClientOpts reports whether fd, an accepted socket, has
// clientOpts from its listener.
func inheritsClientOpts(fd int) bool {
	for _, o := range clientOpts {
		if v, err := unix.GetsockoptInt(fd, o.level, o.opt); err != nil || v != o.value {
			return false
		}
	}
	return true
}

// setClientOpts sets clientOpts on fd. Like net.TCPListener.Accept it
// ignores failures: they do not make the connection unusable.
func setClientOpts(fd int) {
	for _, o := range clientOpts {
		unix.SetsockoptInt(fd, o.level, o.opt, o.value)
	}
}

// acceptRaw is the accept loop of pl's raw socket, until pl is closed.
// Each poller wake-up accepts with accept4(SOCK_NONBLOCK|SOCK_CLOEXEC)
// until EAGAIN (at most acceptBatch at a time) and gives every socket to
// takeClient on this goroutine. Accept failures back off as acceptNet's
// do. Unless pl.perConn says clientOpts must be set on every accepted
// socket, the first one accepted is checked for them, and if it lacks
// them they are set per connection from then on.
func (s *Supervisor) acceptRaw(pl *publicListener) {
	rc, err := pl.raw.SyscallConn()
	if err != nil { // only for a nil File
		s.acceptNet(pl.ln)
		return
	}
	buf := make([]byte, httphead.MaxRequestLine)
	perConn := pl.perConn
	checked := perConn
	var delay time.Duration
	for {
		var aerr error
		err := rc.Read(func(lfd uintptr) bool {
			for range acceptBatch {
				// Raw (see internal/rawsys): the listener is non-blocking.
				fd, sa, err := rawsys.Accept4(int(lfd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
				switch err {
				case 0:
				case unix.EAGAIN:
					return false // wait in the poller for the next connection
				case unix.ECONNABORTED: // (Accept4 retries EINTR itself)
					continue
				default:
					aerr = os.NewSyscallError("accept4", err)
					return true
				}
				delay = 0
				if !checked {
					checked = true
					if !inheritsClientOpts(fd) {
						perConn = true
						s.log.Warn("accepted sockets do not inherit the listener's options; setting them on every connection")
					}
				}
				if perConn {
					setClientOpts(fd)
				}
				s.takeClient(fd, sa, buf)
			}
			return true
		})
		switch {
		case pl.closed.Load():
			return
		case err != nil:
			s.acceptFailed(&delay, err)
		case aerr != nil:
			s.acceptFailed(&delay, aerr)
		}
	}
}

// takeClient handles fd, a client socket just accepted from sa, and owns
// it: fd is closed or handed on, exactly once, on every path. buf is
// scratch space of httphead.MaxRequestLine bytes.
//
// The fast path: one non-blocking peek; when it shows a complete request
// line, the connection is routed and fd sent to the worker without
// blocking (handoffNow), here on the accept goroutine. Everything else
// takes the slow path, serveClient on a goroutine of its own under the
// peek deadline: a request line not complete yet, a peer that is a
// trusted proxy (its PROXY header or X-Forwarded-For needs more bytes),
// bytes that are not a request line, a request the primary answers itself
// (unknown sid, no worker) and a worker whose control link is full.
func (s *Supervisor) takeClient(fd int, sa unix.Sockaddr, buf []byte) {
	accepted := s.opts.Metrics.now()
	s.opts.Metrics.accepted()
	peer := sockaddrAddrPort(sa)
	if s.opts.TLS == nil && !s.fromTrustedProxy(peer.Addr()) {
		if n := peekNow(fd, buf); n > 0 {
			if line, complete, err := httphead.ParseRequestLine(buf[:n]); complete && err == nil && s.handoffNow(fd, peer, line, accepted) {
				return
			}
		}
	}
	s.serveSlow(newFileConn(fd), peer, accepted)
}

// peekNow copies the bytes waiting on fd into buf without consuming them
// or waiting (recv with MSG_PEEK|MSG_DONTWAIT) and returns their number:
// 0 when there are none yet and on any error (the slow path looks again
// and handles it).
func peekNow(fd int, buf []byte) int {
	n, err := rawsys.Peek(fd, buf) // MSG_DONTWAIT: raw is safe
	if err != 0 {
		return 0
	}
	return n
}

// fromTrustedProxy reports whether the client address of a connection
// from peer comes from the stream (Options.ClientAddr), which the slow
// path reads.
func (s *Supervisor) fromTrustedProxy(peer netip.Addr) bool {
	mode := s.opts.ClientAddr
	return mode != "" && mode != ClientAddrPeer && s.isTrustedProxy(peer)
}

// handoffNow routes line, peeked on the fresh connection fd from peer, and
// sends fd to the chosen worker with a non-blocking send. It reports
// whether it disposed of fd: true when the fd was sent (or the send
// failed) and fd is closed. It returns false, having done nothing visible
// (no metric, no load counted), when the primary must answer the request
// itself or the worker's control link is full: the slow path then takes
// the connection from the start.
func (s *Supervisor) handoffNow(fd int, peer netip.AddrPort, line httphead.RequestLine, accepted stamp) bool {
	in, link, _, _ := s.pick(line, peer.Addr(), 0)
	if in == nil {
		return false
	}
	msg := ipc.Message{Type: ipc.MsgConn, ConnID: s.connID.Add(1), Addr: msgAddr(peer)}
	err := link.TrySend(&msg, fd)
	if errors.Is(err, ipc.ErrWouldBlock) {
		s.unsend(in)
		return false
	}
	// Raw: without SO_LINGER (the primary never sets it) close does not
	// block, and the sent fd's file description lives on in the worker.
	rawsys.Close(fd)
	s.opts.Metrics.acceptPath(true)
	s.handoffDone(in, peer, line, 0, accepted, err)
	return true
}

// serveSlow starts serveClient for c, a fresh connection from peer, on a
// goroutine counted in connWG; during shutdown it closes c instead, and
// beyond MaxPeeking it refuses c (refusePeek).
func (s *Supervisor) serveSlow(c clientConn, peer netip.AddrPort, accepted stamp) {
	s.opts.Metrics.acceptPath(false)
	if err := s.trackClient(c); err != nil {
		if errors.Is(err, errPeekLimit) {
			s.refusePeek(c, peer)
			return
		}
		c.Close()
		return
	}
	s.connWG.Add(1)
	if s.opts.TLS != nil {
		go s.serveTLSClient(c, peer, accepted)
		return
	}
	go s.serveClient(c, peer, accepted)
}

// clientConn is a client connection the primary holds on the slow path:
// a *fileConn, or a *net.TCPConn from a listener other than
// *net.TCPListener.
type clientConn interface {
	io.ReadWriteCloser
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	CloseWrite() error
	SyscallConn() (syscall.RawConn, error)
}

// fileConn is a client socket held as an *os.File: an fd from accept4 or
// a hand-back. The fd is non-blocking, so the File is registered with
// Go's poller and its reads, writes and deadlines work as a net.Conn's
// do, at the cost of one fcntl and one epoll_ctl (net.FileConn would dup
// the fd and query it too).
type fileConn struct{ *os.File }

var _ clientConn = (*fileConn)(nil)

// newFileConn takes ownership of fd, a non-blocking socket.
func newFileConn(fd int) *fileConn { return &fileConn{os.NewFile(uintptr(fd), "client")} }

// CloseWrite shuts down the writing side of the socket.
func (c *fileConn) CloseWrite() error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), unix.SHUT_WR) }); err != nil {
		return err
	}
	return os.NewSyscallError("shutdown", serr)
}

// sockaddrAddrPort returns the address of sa, an IPv4-mapped IPv6 address
// unmapped (as net.TCPAddr prints it); the zero AddrPort for other kinds.
func sockaddrAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		a := netip.AddrFrom16(sa.Addr).Unmap()
		if sa.ZoneId != 0 && a.Is6() {
			a = a.WithZone(zoneName(sa.ZoneId))
		}
		return netip.AddrPortFrom(a, uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// zoneName names the interface of an IPv6 zone index as net does: its
// name, or the number when there is no such interface.
func zoneName(index uint32) string {
	if ifi, err := net.InterfaceByIndex(int(index)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(index), 10)
}

// msgAddr formats ap for the Conn message: "" when it is not valid.
func msgAddr(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	return ap.String()
}

// refusePeek answers c, a fresh connection from peer refused because
// MaxPeeking connections wait for their request line, on the accept
// goroutine and without waiting: on a plain listener 503 with Retry-After
// (one non-blocking send), a shutdown of the write side and a
// non-blocking read of what the client had sent (so that the close does
// not reset the connection over unread bytes, which could destroy the
// answer); on the TLS listener nothing. c is closed.
func (s *Supervisor) refusePeek(c clientConn, peer netip.AddrPort) {
	s.opts.Metrics.routed(DecisionPeekLimit)
	s.log.Debug("too many connections waiting for their request line; refusing one", "client", peer, "max_peeking", s.opts.MaxPeeking)
	defer c.Close()
	if s.opts.TLS != nil {
		return
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		if _, err := unix.SendmsgN(int(fd), []byte(respBusy), nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL); err != nil {
			return
		}
		unix.Shutdown(int(fd), unix.SHUT_WR)
		var buf [512]byte
		for range refuseDrainReads {
			if n, _, err := unix.Recvfrom(int(fd), buf[:], unix.MSG_DONTWAIT); n <= 0 || err != nil {
				return
			}
		}
	})
}

// refuseDrainReads bounds the non-blocking reads refusePeek makes of a
// refused client's bytes (512 each).
const refuseDrainReads = 16
