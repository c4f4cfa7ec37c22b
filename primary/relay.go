package primary

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/stickyd/stickyd/fleet"
	"github.com/stickyd/stickyd/httphead"
	"golang.org/x/sys/unix"
)

// spliceChunk is the most one splice(2) moves into a relay's pipe (the
// pipe's default capacity).
const spliceChunk = 64 << 10

// errGiveBackRefused is returned when the relaying host does not
// acknowledge a give-back.
var errGiveBackRefused = errors.New("primary: give-back not acknowledged")

// outRelay is a client connection this host relays to the owner host of
// its session.
type outRelay struct {
	id       uint64
	host     uint16
	client   clientConn
	upstream *net.TCPConn
	addr     netip.AddrPort // the client's
	counters relayCounters
}

// relayToHost relays c, whose request line line names a session of host,
// to that host, on a goroutine counted in connWG. prefix holds request
// bytes already read from c (a hand-back). A connection another host
// relayed here is given back to that host instead (giveBack). c is
// closed or handed on, on every path.
func (s *Supervisor) relayToHost(c clientConn, addr netip.AddrPort, prefix []byte, host uint16) {
	s.connWG.Add(1)
	if fc, ok := c.(*fleetInConn); ok {
		go s.giveBack(fc, addr, prefix, host)
		return
	}
	go func() {
		defer s.connWG.Done()
		s.runRelay(c, addr, prefix, host)
	}()
}

// runRelay connects to host, sends the sealed PROXY v2 header and prefix,
// and splices c and the host's connection both ways until one side ends.
// A host that is not a live member, or that cannot be reached, is gone:
// c gets 400 Session ID unknown.
func (s *Supervisor) runRelay(c clientConn, addr netip.AddrPort, prefix []byte, host uint16) {
	counters := s.opts.Metrics.fleetRelayCounters(host)
	up, err := s.dialHost(host, fleet.KindRelay, 0, addr, prefix)
	if err != nil {
		counters.failed()
		s.log.Debug("host of the sid is gone; answering 400", "client", addr, "host", host, "error", err)
		s.opts.Metrics.routed(DecisionUnknownSID)
		respondAndClose(c, respUnknownSID)
		return
	}
	c.SetReadDeadline(time.Time{}) // the peek deadline ends here: a relay lives as long as its client
	r := &outRelay{id: up.relayID, host: host, client: c, upstream: up.conn, addr: addr, counters: counters}
	if !s.addRelay(r) {
		c.Close()
		up.conn.Close()
		return
	}
	counters.started()
	s.log.Debug("relaying a connection to its session's host", "client", addr, "host", host, "relay", r.id)
	s.spliceRelay(r)
}

// hostConn is a connection to another host with its header sent.
type hostConn struct {
	conn    *net.TCPConn
	relayID uint64
}

// dialHost connects to host and writes a header of kind (for a relay, a
// fresh relay id; for a give-back, relayID) and then payload.
func (s *Supervisor) dialHost(host uint16, kind fleet.Kind, relayID uint64, client netip.AddrPort, payload []byte) (hostConn, error) {
	target, ok := s.opts.Fleet.Lookup(host)
	if !ok {
		return hostConn{}, fmt.Errorf("host %d is not a live member", host)
	}
	nc, err := net.DialTimeout("tcp", target, fleetDialTimeout)
	if err != nil {
		return hostConn{}, err
	}
	conn := nc.(*net.TCPConn)
	if kind == fleet.KindRelay {
		relayID = s.connID.Add(1)
	}
	hdr, err := s.opts.Fleet.Header(kind, relayID, client, conn.RemoteAddr().(*net.TCPAddr).AddrPort())
	if err == nil {
		conn.SetWriteDeadline(time.Now().Add(fleetIOTimeout))
		_, err = conn.Write(append(hdr, payload...))
		conn.SetWriteDeadline(time.Time{})
	}
	if err != nil {
		conn.Close()
		return hostConn{}, err
	}
	return hostConn{conn: conn, relayID: relayID}, nil
}

// addRelay records r for give-backs and shutdown; false during shutdown.
func (s *Supervisor) addRelay(r *outRelay) bool {
	f := &s.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	if f.out == nil {
		f.out = make(map[uint64]*outRelay)
	}
	f.out[r.id] = r
	return true
}

// removeRelay forgets r and any give-back left for it.
func (s *Supervisor) removeRelay(r *outRelay) {
	f := &s.fleet
	f.mu.Lock()
	delete(f.out, r.id)
	delete(f.giveBack, r.id)
	f.mu.Unlock()
	r.counters.ended()
}

// spliceRelay splices r's client and upstream both ways: client bytes up
// (the client's EOF becomes a shutdown of the upstream's write side),
// upstream bytes down. When the upstream ends, a give-back the owner
// left for r makes this host route the client connection again with the
// given-back request; otherwise both connections are closed.
func (s *Supervisor) spliceRelay(r *outRelay) {
	crc, err := r.client.SyscallConn()
	urc, uerr := r.upstream.SyscallConn()
	if err != nil || uerr != nil {
		r.client.Close()
		r.upstream.Close()
		s.removeRelay(r)
		return
	}
	upDone := make(chan error, 1)
	go func() {
		err := splicePump(crc, urc, r.counters.up)
		r.upstream.CloseWrite() // the owner sees the client's EOF
		upDone <- err
	}()
	if err := splicePump(urc, crc, r.counters.down); err != nil {
		r.counters.errored()
	}
	req := s.takeGiveBack(r.id)
	r.client.SetReadDeadline(time.Now()) // ends the upward pump
	<-upDone
	r.upstream.Close()
	s.removeRelay(r)
	if req == nil {
		r.client.CloseWrite()
		r.client.Close()
		return
	}
	r.client.SetReadDeadline(time.Time{})
	line, complete, err := httphead.ParseRequestLine(req)
	if err != nil || !complete {
		s.opts.Metrics.routed(DecisionBadRequest)
		respondAndClose(r.client, respBadRequest)
		return
	}
	s.log.Debug("relayed connection given back; routing it again", "client", r.addr, "host", r.host, "relay", r.id)
	s.route(r.client, r.addr, line, req, 0, 0)
}

// splicePump moves bytes from the socket behind src to the one behind
// dst through a pipe with splice(2), never through user space, until
// src's EOF (nil) or an error (a read deadline on src ends it). count
// receives each chunk's size.
func splicePump(src, dst syscall.RawConn, count func(int)) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return os.NewSyscallError("pipe2", err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	for {
		n, err := spliceOnce(src.Read, p[1], false, spliceChunk)
		if err != nil || n == 0 {
			return err
		}
		for n > 0 {
			m, err := spliceOnce(dst.Write, p[0], true, n)
			if err != nil {
				return err
			}
			n -= m
			count(m)
		}
	}
}

// spliceOnce waits (through wait: a RawConn's Read or Write) until one
// splice between the socket and the pipe end pipeFD moves bytes (to the
// socket when toSocket), and returns how many: 0 at the socket's EOF.
func spliceOnce(wait func(func(uintptr) bool) error, pipeFD int, toSocket bool, max int) (int, error) {
	var n int64
	var serr error
	err := wait(func(fd uintptr) bool {
		for {
			if toSocket {
				n, serr = unix.Splice(pipeFD, nil, int(fd), nil, max, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			} else {
				n, serr = unix.Splice(int(fd), nil, pipeFD, nil, max, unix.SPLICE_F_MOVE|unix.SPLICE_F_NONBLOCK)
			}
			if serr != unix.EINTR {
				return serr != unix.EAGAIN
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, os.NewSyscallError("splice", serr)
	}
	return int(n), nil
}

// giveBack hands fc, a connection another host relayed here whose next
// request (prefix, read by the worker) names host, back to the host that
// relayed it, which routes it again. When that fails the connection is
// relayed on from here. Runs on a goroutine counted in connWG.
func (s *Supervisor) giveBack(fc *fleetInConn, addr netip.AddrPort, prefix []byte, host uint16) {
	defer s.connWG.Done()
	req := append(prefix, pendingBytes(fc, maxGiveBack-len(prefix))...)
	counters := s.opts.Metrics.fleetRelayCounters(fc.origin.from)
	if err := s.sendGiveBack(fc.origin, addr, req); err != nil {
		counters.failed()
		s.log.Debug("cannot give a relayed connection back; relaying it on", "client", addr, "to_host", fc.origin.from, "error", err)
		s.runRelay(fc.clientConn, addr, req, host)
		return
	}
	counters.gaveBack()
	fc.Close()
}

// sendGiveBack sends req (length-prefixed) to the host that relayed the
// connection of origin and waits for its acknowledgement.
func (s *Supervisor) sendGiveBack(origin *fleetOrigin, addr netip.AddrPort, req []byte) error {
	if len(req) > maxGiveBack {
		return errGiveBackTooLarge
	}
	payload := binary.BigEndian.AppendUint32(nil, uint32(len(req)))
	hc, err := s.dialHost(origin.from, fleet.KindGiveBack, origin.relayID, addr, append(payload, req...))
	if err != nil {
		return err
	}
	defer hc.conn.Close()
	hc.conn.SetReadDeadline(time.Now().Add(fleetIOTimeout))
	var ack [1]byte
	if _, err := io.ReadFull(hc.conn, ack[:]); err != nil {
		return fmt.Errorf("%w: %w", errGiveBackRefused, err)
	}
	if ack[0] != giveBackAck {
		return errGiveBackRefused
	}
	return nil
}

// pendingBytes reads, without waiting, up to max bytes already received
// on c (beyond what its worker read).
func pendingBytes(c clientConn, max int) []byte {
	rc, err := c.SyscallConn()
	if err != nil || max <= 0 {
		return nil
	}
	var out []byte
	rc.Control(func(fd uintptr) {
		buf := make([]byte, 4096)
		for len(out) < max {
			n, _, err := unix.Recvfrom(int(fd), buf[:min(len(buf), max-len(out))], unix.MSG_DONTWAIT)
			if n <= 0 || err != nil {
				return
			}
			out = append(out, buf[:n]...)
		}
	})
	return out
}

// hostLabel is the metrics label of a host id.
func hostLabel(host uint16) string { return strconv.Itoa(int(host)) }
