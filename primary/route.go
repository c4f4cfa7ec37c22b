package primary

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/stickyd/stickyd/ipc"
	"golang.org/x/sys/unix"
)

// Accept back-off after EMFILE/ENFILE and similar temporary errors.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// acceptClients accepts client connections until ln is closed. Each
// connection is peeked, routed and handed off on its own goroutine, so no
// client can stall the loop. Running out of fds backs off and carries on.
func (s *Supervisor) acceptClients(ln net.Listener) {
	s.log.Info("listening", "addr", ln.Addr().String())
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if delay == 0 {
				delay = acceptBackoffMin
			} else {
				delay = min(2*delay, acceptBackoffMax)
			}
			s.log.Error("accept failed; backing off", "error", err, "delay", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.stopping:
				t.Stop()
			}
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
		if !s.trackClient(tc) {
			tc.Close()
			continue
		}
		s.connWG.Add(1)
		go s.serveClient(tc, s.opts.Metrics.now())
	}
}

func (s *Supervisor) trackClient(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.clients[c] = struct{}{}
	return true
}

// untrackClient forgets c and reports whether it was still tracked (false
// when shutdown closed it).
func (s *Supervisor) untrackClient(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.clients[c]
	delete(s.clients, c)
	return ok
}

// serveClient peeks the first request line of c under PeekTimeout and
// routes the connection. c is closed (our copy) on every path. accepted is
// when c was accepted (0 without metrics).
func (s *Supervisor) serveClient(c *net.TCPConn, accepted stamp) {
	defer s.connWG.Done()
	addr := c.RemoteAddr().String()
	rc, err := c.SyscallConn()
	if err != nil {
		s.untrackClient(c)
		c.Close()
		return
	}
	c.SetReadDeadline(time.Now().Add(s.opts.PeekTimeout))
	addr, err = s.clientAddr(c, rc, addr)
	var rl RequestLine
	if err == nil {
		rl, err = peekRequestLine(rc)
	}
	if !s.untrackClient(c) {
		c.Close()
		return
	}
	if err != nil {
		s.rejectClient(c, addr, err)
		return
	}
	s.route(c, c, addr, rl, nil, 0, accepted)
}

// rejectClient answers or closes a connection whose first line was bad.
func (s *Supervisor) rejectClient(c *net.TCPConn, addr string, err error) {
	s.opts.Metrics.rejected(err)
	switch {
	case errors.Is(err, ErrLineTooLong):
		s.log.Debug("request line too long", "client", addr)
		s.answer(c, c, respTooLong)
	case errors.Is(err, ErrBadRequest):
		s.log.Debug("bad request line", "client", addr, "error", err)
		s.answer(c, c, respBadRequest)
	case errors.Is(err, ErrTLS), errors.Is(err, ErrHTTP2), errors.Is(err, ErrProxyHeader):
		s.log.Debug("closing connection", "client", addr, "reason", err)
		c.Close()
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.log.Debug("client sent no request line in time", "client", addr, "timeout", s.opts.PeekTimeout)
		c.Close()
	default: // EOF, reset
		c.Close()
	}
}

// fdConn is a connection whose fd can be lent out: *net.TCPConn or the
// *os.File of a hand-back.
type fdConn interface {
	SyscallConn() (syscall.RawConn, error)
	Close() error
}

// route picks the instance for rl and hands c to it with prefix. from is
// the instance that handed c back (0 for a fresh connection); a sid naming
// it or no live instance is answered 400 unknown sid. c is closed on every
// path. asNet gives c as a net.Conn for answering it (nil to build one).
// accepted is when c was accepted, for the metrics (0: not timed).
func (s *Supervisor) route(c fdConn, asNet net.Conn, addr string, rl RequestLine, prefix []byte, from uint32, accepted stamp) {
	var client netip.Addr
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		client = ap.Addr()
	}
	s.mu.Lock()
	var in *instance
	if rl.SID != "" {
		if id, ok := ipc.SIDInstance(rl.SID); ok && id != from {
			if cand := s.instances[id]; cand != nil && (cand.state == Ready || cand.state == Draining) {
				in = cand
			}
		}
		if in == nil {
			s.mu.Unlock()
			s.log.Debug("unknown sid", "client", addr, "sid", truncate(rl.SID, 40))
			s.opts.Metrics.routed(DecisionUnknownSID)
			s.answer(c, asNet, respUnknownSID)
			return
		}
	} else {
		i := s.policy.Pick(s.ready, client)
		if i < 0 {
			s.mu.Unlock()
			s.log.Debug("no worker ready; answering 503", "client", addr)
			s.opts.Metrics.routed(DecisionNoWorker)
			s.answer(c, asNet, respNoWorker)
			return
		}
		in = s.ready[i].(*instance)
	}
	in.sent++
	link := in.link
	s.mu.Unlock()

	msg := ipc.Message{Type: ipc.MsgConn, ConnID: s.connID.Add(1), Addr: addr, Prefix: prefix}
	var serr error
	rc, err := c.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) { serr = link.Send(&msg, int(fd)) })
	}
	c.Close()
	if err == nil {
		err = serr
	}
	s.opts.Metrics.handoffDone(in.metrics, rl.SID != "", from != 0, accepted, err)
	if err != nil {
		s.mu.Lock()
		in.sent--
		s.mu.Unlock()
		s.log.Debug("hand-off failed; connection closed", "client", addr, "instance", in.id, "error", err)
	}
}

// answer writes resp on c and closes it gracefully, on a new goroutine.
func (s *Supervisor) answer(c fdConn, asNet net.Conn, resp string) {
	if asNet == nil {
		f, ok := c.(*os.File)
		if !ok {
			c.Close()
			return
		}
		nc, err := net.FileConn(f)
		f.Close()
		if err != nil {
			return
		}
		asNet = nc
	}
	s.connWG.Add(1)
	go func() {
		defer s.connWG.Done()
		respondAndClose(asNet, resp)
	}()
}

// handBack re-routes a connection a worker returned because its next
// request names another instance. f is the connection; m.Prefix holds the
// bytes the worker consumed, starting with the request line.
func (s *Supervisor) handBack(from *instance, m ipc.Message, f *os.File) {
	addr := ""
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			if sa, err := unix.Getpeername(int(fd)); err == nil {
				addr = sockaddrString(sa)
			}
		})
	}
	rl, complete, err := ParseRequestLine(m.Prefix)
	if err == nil && !complete {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		s.log.Debug("hand-back without a request line; answering 400", "instance", from.id, "error", err)
		s.opts.Metrics.routed(DecisionBadRequest)
		s.answer(f, nil, respBadRequest)
		return
	}
	s.route(f, nil, addr, rl, m.Prefix, from.id, 0)
}

func sockaddrString(sa unix.Sockaddr) string {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)).String()
	}
	return ""
}

// truncate shortens s for a log line.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
