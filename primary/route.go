package primary

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/stickyd/stickyd/httphead"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/proxyproto"
	"golang.org/x/sys/unix"
)

// errPeekLimit is returned by trackClient when Options.MaxPeeking
// connections already wait for their request line.
var errPeekLimit = errors.New("primary: too many connections waiting for their request line")

// trackClient records c, a fresh connection on the slow path, so that
// shutdown can close it, and counts it as peeking until peekDone. It
// returns ErrShuttingDown once shutdown has begun and errPeekLimit when
// MaxPeeking connections are peeking; c is then not recorded.
func (s *Supervisor) trackClient(c clientConn) error {
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	switch {
	case s.clientsClosed || s.isClosing():
		return ErrShuttingDown
	case s.peeking >= s.opts.MaxPeeking:
		return errPeekLimit
	}
	s.clients[c] = struct{}{}
	s.peeking++
	s.opts.Metrics.peekStarted()
	return nil
}

// peekDone ends the peeking of a connection trackClient recorded: it has
// its request line, failed or timed out. Call it once per connection.
func (s *Supervisor) peekDone() {
	s.clientsMu.Lock()
	s.peeking--
	s.clientsMu.Unlock()
	s.opts.Metrics.peekEnded()
}

// untrackClient forgets c and reports whether it was still tracked (false
// when shutdown closed it).
func (s *Supervisor) untrackClient(c clientConn) bool {
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	_, ok := s.clients[c]
	delete(s.clients, c)
	return ok
}

// serveClient peeks the first request line of c, a fresh connection from
// peer, under PeekTimeout and routes the connection: the slow path. c is
// closed (our copy) on every path. accepted is when c was accepted (0
// without metrics).
func (s *Supervisor) serveClient(c clientConn, peer netip.AddrPort, accepted stamp) {
	defer s.connWG.Done()
	rc, err := c.SyscallConn()
	if err == nil {
		err = c.SetReadDeadline(time.Now().Add(s.opts.PeekTimeout))
	}
	if err != nil {
		s.peekDone()
		s.untrackClient(c)
		c.Close()
		return
	}
	if s.opts.Fleet != nil {
		// Fleet routing: a connection another host relays starts with a
		// PROXY v2 header.
		if is, ferr := startsFleetHeader(rc); ferr == nil && is {
			s.peekDone()
			if !s.untrackClient(c) {
				c.Close()
				return
			}
			s.serveFleetConn(c, peer, rc, accepted)
			return
		}
	}
	addr, err := s.clientAddr(c, rc, peer)
	var line httphead.RequestLine
	if err == nil {
		line, err = peekRequestLine(rc)
	}
	s.peekDone()
	if !s.untrackClient(c) {
		c.Close()
		return
	}
	if err != nil {
		s.rejectClient(c, addr, err)
		return
	}
	s.route(c, addr, line, nil, 0, accepted)
}

// rejectAnswer is the response to a first request line that failed to
// parse with err, or "" when the connection is closed without one.
func rejectAnswer(err error) string {
	switch {
	case errors.Is(err, httphead.ErrLineTooLong):
		return respTooLong
	case errors.Is(err, httphead.ErrBadRequest):
		return respBadRequest
	}
	return ""
}

// rejectClient answers or closes a connection whose first line was bad.
func (s *Supervisor) rejectClient(c clientConn, addr netip.AddrPort, err error) {
	s.opts.Metrics.rejected(err)
	if resp := rejectAnswer(err); resp != "" {
		s.log.Debug("bad request line", "client", addr, "error", err)
		s.answer(c, resp)
		return
	}
	switch {
	case errors.Is(err, httphead.ErrTLS), errors.Is(err, httphead.ErrHTTP2), errors.Is(err, proxyproto.ErrHeader):
		s.log.Debug("closing connection", "client", addr, "reason", err)
		c.Close()
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.log.Debug("client sent no request line in time", "client", addr, "timeout", s.opts.PeekTimeout)
		c.Close()
	default: // EOF, reset
		c.Close()
	}
}

// pick chooses the instance for line from client under the routing lock and
// counts the hand-off as in flight on it (undo with unsend). from is the
// instance that handed the connection back (0 for a fresh connection); a
// sid naming it, or no live instance, is an unknown sid. When there is no
// instance to hand off to, in is nil and resp and d are the primary's
// answer and its decision.
func (s *Supervisor) pick(line httphead.RequestLine, client netip.Addr, from uint32) (in *instance, link workerLink, resp string, d Decision) {
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	if line.SID != "" {
		if id, ok := s.sidOwnerLocked(line.SID); ok && id != from {
			if cand := s.instances[id]; cand != nil && (cand.state == Ready || cand.state == Draining) {
				in = cand
			}
		}
		if in == nil {
			return nil, nil, respUnknownSID, DecisionUnknownSID
		}
	} else {
		i := s.policy.Pick(s.ready, client)
		if i < 0 {
			return nil, nil, respNoWorker, DecisionNoWorker
		}
		in = s.ready[i].(*instance)
	}
	in.sent++
	return in, in.link, "", 0
}

// unsend takes back the hand-off pick counted in flight on in.
func (s *Supervisor) unsend(in *instance) {
	s.routingMu.Lock()
	in.sent--
	s.routingMu.Unlock()
}

// handoffDone records the end of a hand-off to in of a connection from
// addr with request line line: the metrics, and on a failed send (err)
// a debug log line, with the in-flight count taken back.
func (s *Supervisor) handoffDone(in *instance, addr netip.AddrPort, line httphead.RequestLine, from uint32, accepted stamp, err error) {
	s.opts.Metrics.handoffDone(in.metrics, line.SID != "", from != 0, accepted, err)
	if err != nil {
		s.unsend(in)
		s.log.Debug("hand-off failed; connection closed", "client", addr, "instance", in.id, "error", err)
	}
}

// route picks the instance for line and hands c to it with prefix, waiting
// while the worker's control link is full (the slow path). from is the
// instance that handed c back (0 for a fresh connection); a sid naming it
// or no live instance is answered 400 unknown sid. c is closed on every
// path. accepted is when c was accepted, for the metrics (0: not timed).
func (s *Supervisor) route(c clientConn, addr netip.AddrPort, line httphead.RequestLine, prefix []byte, from uint32, accepted stamp) {
	// Fleet routing step: a sid of another host is relayed there.
	if host, ok := s.foreignHost(line); ok {
		s.relayToHost(c, addr, prefix, host)
		return
	}
	in, link, resp, d := s.pick(line, addr.Addr(), from)
	if in == nil && d == DecisionUnknownSID && s.awaitSID(line.SID) {
		in, link, resp, d = s.pick(line, addr.Addr(), from)
	}
	if in == nil {
		if d == DecisionUnknownSID {
			s.log.Debug("unknown sid", "client", addr, "sid", truncate(line.SID, 40))
		} else {
			s.log.Debug("no worker ready; answering 503", "client", addr)
		}
		s.opts.Metrics.routed(d)
		s.answer(c, resp)
		return
	}
	msg := ipc.Message{Type: ipc.MsgConn, ConnID: s.connID.Add(1), Addr: msgAddr(addr), Prefix: prefix}
	s.noteRelayID(c, msg.ConnID)
	s.noteFleetIn(c, msg.ConnID)
	var serr error
	rc, err := c.SyscallConn()
	if err == nil {
		err = rc.Control(func(fd uintptr) { serr = link.Send(&msg, int(fd)) })
	}
	c.Close()
	if err == nil {
		err = serr
	}
	s.handoffDone(in, addr, line, from, accepted, err)
}

// answer writes resp on c and closes it gracefully, on a new goroutine
// counted in connWG.
func (s *Supervisor) answer(c clientConn, resp string) {
	s.connWG.Add(1)
	go func() {
		defer s.connWG.Done()
		respondAndClose(c, resp)
	}()
}

// handBack re-routes a connection a worker returned because its next
// request names another instance. f is the connection; m.Prefix holds the
// bytes the worker consumed, starting with the request line.
func (s *Supervisor) handBack(from *instance, m ipc.Message, f *os.File) {
	var c clientConn = &fileConn{f}
	var addr netip.AddrPort
	if r := s.relayOf(m.ConnID); r != nil {
		// The end of a TLS relay's socket pair: no IP peer of its own.
		c, addr = &pairConn{&fileConn{f}, r}, r.peer
	} else if o := s.fleetInOf(m.ConnID); o != nil { // (nil outside a fleet)
		// A connection another host relayed here.
		c, addr = &fleetInConn{&fileConn{f}, o}, netip.AddrPortFrom(o.client.Addr().Unmap(), o.client.Port())
	} else if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			if sa, err := unix.Getpeername(int(fd)); err == nil {
				addr = sockaddrAddrPort(sa)
			}
		})
	}
	line, complete, err := httphead.ParseRequestLine(m.Prefix)
	if err == nil && !complete {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		s.log.Debug("hand-back without a request line; answering 400", "instance", from.id, "error", err)
		s.opts.Metrics.routed(DecisionBadRequest)
		s.answer(c, respBadRequest)
		return
	}
	s.route(c, addr, line, m.Prefix, from.id, 0)
}

// truncate shortens s for a log line.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
