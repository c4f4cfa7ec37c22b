package primary

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/stickyd/stickyd/httphead"
	"golang.org/x/sys/unix"
)

// HTTPS (Options.TLS): the primary cannot route inside TLS without
// decrypting it, so on a TLS listener it terminates TLS itself. For each
// connection it completes the handshake and reads the first request line
// under PeekTimeout, as it peeks on a plain listener; it then makes a Unix
// socket pair, hands one end to the chosen worker exactly as it hands a
// TCP fd (the plaintext read so far goes as the prefix, as on a hand-back)
// and relays bytes between the TLS connection and its own end until either
// side is done. Workers see a plain stream; keep-alive hand-backs of the
// pair's end are re-routed like any other. Unlike the plain path, every
// byte of a TLS connection crosses the primary (twice through the
// kernel): the price of TLS without kernel TLS.

// relayBufSize is the size of the buffers of the relays' downward copies
// (worker to client), taken from relayBufs only while bytes are waiting.
const relayBufSize = 16 << 10

var relayBufs = sync.Pool{New: func() any { b := make([]byte, relayBufSize); return &b }}

var (
	_ net.Conn   = (*tlsTransport)(nil)
	_ clientConn = (*pairConn)(nil)
)

// tlsTransport is a clientConn seen as the net.Conn crypto/tls needs.
type tlsTransport struct {
	clientConn
	peer netip.AddrPort
}

func (t *tlsTransport) LocalAddr() net.Addr  { return &net.TCPAddr{} }
func (t *tlsTransport) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(t.peer) }
func (t *tlsTransport) SetDeadline(d time.Time) error {
	return errors.Join(t.SetReadDeadline(d), t.SetWriteDeadline(d))
}

// tlsRelay is one TLS connection relayed to a worker through a socket
// pair: its client address, and the connection id its pair end was last
// sent under (a hand-back names the end by it, and a pair has no IP peer).
// Only the last id is kept: the pair end is in one worker at a time, which
// can hand it back only under the id it received it with, so a kept-alive
// connection handed back again and again holds one entry, not one per
// hand-back.
type tlsRelay struct {
	peer netip.AddrPort
	id   uint64 // guarded by Supervisor.relaysMu; 0 until first sent
}

// pairConn is the worker's end of a relay's socket pair, on its way to a
// worker (fresh or handed back).
type pairConn struct {
	*fileConn
	relay *tlsRelay
}

// serveTLSClient is the slow path of a connection on a TLS listener: the
// handshake and the first request line under PeekTimeout, then the relay.
// c is closed on every path.
func (s *Supervisor) serveTLSClient(c clientConn, peer netip.AddrPort, accepted stamp) {
	defer s.connWG.Done()
	tc := tls.Server(&tlsTransport{clientConn: c, peer: peer}, s.opts.TLS)
	defer tc.Close()
	defer s.untrackClient(c)
	head, line, ok := s.tlsRequestLine(c, tc, peer)
	s.peekDone()
	if !ok {
		return
	}
	tc.SetDeadline(time.Time{})
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		s.log.Warn("TLS relay: socketpair failed; connection closed", "client", peer, "error", err)
		return
	}
	ours := os.NewFile(uintptr(fds[0]), "tls-relay")
	r := &tlsRelay{peer: peer}
	s.route(&pairConn{newFileConn(fds[1]), r}, peer, line, head, 0, accepted)
	relayTLS(tc, ours)
	s.forgetRelay(r)
}

// tlsRequestLine runs the TLS handshake of tc (over c, from peer) and
// reads its first request line, under PeekTimeout. It returns the
// plaintext read and the line, or ok=false once it has answered or closed
// a connection whose handshake or line failed.
func (s *Supervisor) tlsRequestLine(c clientConn, tc *tls.Conn, peer netip.AddrPort) (head []byte, line httphead.RequestLine, ok bool) {
	tc.SetDeadline(time.Now().Add(s.opts.PeekTimeout))
	if err := tc.Handshake(); err != nil {
		s.opts.Metrics.routed(DecisionTLSHandshake)
		s.log.Debug("TLS handshake failed; connection closed", "client", peer, "error", err)
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) && looksLikeHTTP(rh.RecordHeader) {
			respondAndClose(c, respPlainOnTLS)
		}
		return nil, line, false
	}
	head, line, err := readRequestLine(tc)
	if err != nil {
		s.rejectTLS(tc, peer, err)
		return nil, line, false
	}
	return head, line, true
}

// respPlainOnTLS answers a plain HTTP request sent to the HTTPS listener.
const respPlainOnTLS = "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" +
	"This port speaks HTTPS: use an https:// (or wss://) URL.\n"

// looksLikeHTTP reports whether the first 5 bytes of a would-be TLS record
// start a plain HTTP/1.x request.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH":
		return true
	}
	return false
}

// readRequestLine reads from tc until the bytes read hold a complete
// request line (at most httphead.MaxRequestLine bytes are read) and returns them,
// with the line parsed.
func readRequestLine(tc *tls.Conn) ([]byte, httphead.RequestLine, error) {
	buf := make([]byte, httphead.MaxRequestLine)
	n := 0
	for {
		m, err := tc.Read(buf[n:])
		n += m
		if n > 0 {
			line, complete, perr := httphead.ParseRequestLine(buf[:n])
			switch {
			case perr != nil:
				return nil, line, perr
			case complete:
				return buf[:n:n], line, nil
			}
		}
		if err != nil {
			return nil, httphead.RequestLine{}, err
		}
	}
}

// rejectTLS answers (over TLS) or closes a TLS connection whose first
// request line was bad or did not come in time.
func (s *Supervisor) rejectTLS(tc *tls.Conn, peer netip.AddrPort, err error) {
	s.opts.Metrics.rejected(err)
	resp := rejectAnswer(err)
	if resp == "" && (errors.Is(err, httphead.ErrTLS) || errors.Is(err, httphead.ErrHTTP2)) {
		resp = respBadRequest // inside TLS these are just bad request lines
	}
	if resp == "" {
		s.log.Debug("no request line over TLS; connection closed", "client", peer, "error", err)
		return
	}
	s.log.Debug("bad request line over TLS", "client", peer, "error", err)
	respondAndClose(tc, resp)
}

// relayTLS copies between tc and ours, the primary's end of the socket
// pair, until the worker's side is done: client bytes go to the worker
// (its EOF becomes a shutdown of the pair's write side), worker bytes go
// to the client, and the worker closing its end closes tc. It closes ours.
//
// An idle relay holds no heap buffer: the downward copy waits for ours to
// be readable before it takes a pooled buffer, and the upward one reads tc
// into a buffer on its own stack.
func relayTLS(tc *tls.Conn, ours *os.File) {
	rc, err := ours.SyscallConn()
	if err != nil {
		tc.Close()
		ours.Close()
		return
	}
	up := make(chan struct{})
	go func() {
		defer close(up)
		var buf [upBufSize]byte
		for {
			n, err := tc.Read(buf[:])
			if n > 0 {
				if _, werr := ours.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		rc.Control(func(fd uintptr) { unix.Shutdown(int(fd), unix.SHUT_WR) })
	}()
	down := newDownReader(rc)
	for {
		bp, n := down.next()
		if n == 0 {
			break // the worker closed its end (EOF), or ours failed
		}
		_, err := tc.Write((*bp)[:n])
		relayBufs.Put(bp)
		if err != nil {
			break
		}
	}
	tc.Close() // ends the upward copy if the client is still sending
	<-up
	ours.Close()
}

// upBufSize is the stack buffer of a relay's upward copy (client to
// worker): a client's requests and frames are small; a large upload takes
// a few more writes.
const upBufSize = 2 << 10

// downReader reads the primary's end of a relay's socket pair, taking a
// buffer from relayBufs only once the socket is readable.
type downReader struct {
	rc syscall.RawConn
	fn func(uintptr) bool // d.onFD, bound once
	bp *[]byte
	n  int
}

func newDownReader(rc syscall.RawConn) *downReader {
	d := &downReader{rc: rc}
	d.fn = d.onFD
	return d
}

// next waits until the socket is readable and reads it. It returns the
// bytes read in a buffer from relayBufs, which the caller puts back, or 0
// (and no buffer) at EOF or on an error.
func (d *downReader) next() (*[]byte, int) {
	d.bp, d.n = nil, 0
	if err := d.rc.Read(d.fn); err != nil {
		return nil, 0 // the callback holds no buffer when Read fails
	}
	return d.bp, d.n
}

// onFD is the RawConn.Read callback of next.
func (d *downReader) onFD(fd uintptr) bool {
	bp := relayBufs.Get().(*[]byte)
	n, err := unix.Read(int(fd), *bp)
	for err == unix.EINTR {
		n, err = unix.Read(int(fd), *bp)
	}
	switch {
	case err == unix.EAGAIN:
		relayBufs.Put(bp)
		return false // wait for readability, holding no buffer
	case n <= 0: // EOF or error
		relayBufs.Put(bp)
	default:
		d.bp, d.n = bp, n
	}
	return true
}

// relayOf returns the relay whose pair end was sent under connection id
// id, or nil.
func (s *Supervisor) relayOf(id uint64) *tlsRelay {
	s.relaysMu.Lock()
	defer s.relaysMu.Unlock()
	return s.relays[id]
}

// forgetRelay drops r, whose relay has ended.
func (s *Supervisor) forgetRelay(r *tlsRelay) {
	s.relaysMu.Lock()
	defer s.relaysMu.Unlock()
	if r.id != 0 {
		delete(s.relays, r.id)
		s.opts.Metrics.relayEnded()
	}
}

// noteRelayID records that c, when it is a relay's pair end, goes to a
// worker under connection id id, which replaces the id it was sent under
// before.
func (s *Supervisor) noteRelayID(c clientConn, id uint64) {
	pc, ok := c.(*pairConn)
	if !ok {
		return
	}
	r := pc.relay
	s.relaysMu.Lock()
	if r.id != 0 {
		delete(s.relays, r.id)
	} else {
		s.opts.Metrics.relayStarted()
	}
	r.id = id
	s.relays[id] = r
	s.relaysMu.Unlock()
}
