package primary

import (
	"io"
	"net/netip"
	"syscall"

	"github.com/stickyd/stickyd/httphead"
	"github.com/stickyd/stickyd/proxyproto"
)

// Where the primary takes a client's address from (Options.ClientAddr):
// the TCP peer, or, when the peer is a trusted proxy, what the proxy says.
const (
	// ClientAddrPeer uses the TCP peer address (the default).
	ClientAddrPeer = "peer"
	// ClientAddrXFF uses the rightmost X-Forwarded-For entry that is not a
	// trusted proxy, for connections from a trusted proxy. The header is
	// only peeked: the request reaches the worker unchanged.
	ClientAddrXFF = "x-forwarded-for"
	// ClientAddrProxy reads a PROXY protocol v1 header from connections of
	// a trusted proxy. The primary consumes that header (it is not part of
	// the HTTP stream); the worker sees the request as the client sent it
	// and the client's address as RemoteAddr.
	ClientAddrProxy = "proxy-protocol"
)

// isTrustedProxy reports whether addr is inside one of
// Options.TrustedProxies.
func (s *Supervisor) isTrustedProxy(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// clientAddr returns the address to route and report c by: peer, unless c
// comes from a trusted proxy and Options.ClientAddr says to believe it. For
// the PROXY protocol it consumes the header (the only bytes the primary
// ever reads from a stream it hands off).
func (s *Supervisor) clientAddr(c io.Reader, rc syscall.RawConn, peer netip.AddrPort) (netip.AddrPort, error) {
	if !s.fromTrustedProxy(peer.Addr()) {
		return peer, nil
	}
	mode := s.opts.ClientAddr
	bp := peekBufs.Get().(*[httphead.MaxRequestLine]byte)
	defer peekBufs.Put(bp)
	switch mode {
	case ClientAddrProxy:
		var src netip.AddrPort
		var n int
		err := peek(rc, bp[:proxyproto.MaxV1Line], func(b []byte) (bool, error) {
			var complete bool
			var err error
			src, n, complete, err = proxyproto.ParseV1(b)
			return complete, err
		})
		if err != nil {
			return peer, err
		}
		if _, err := io.ReadFull(c, bp[:n]); err != nil {
			return peer, err
		}
		if src.IsValid() {
			return src, nil
		}
	case ClientAddrXFF:
		var client netip.Addr
		var ok bool
		err := peek(rc, bp[:], func(b []byte) (bool, error) {
			var complete bool
			client, ok, complete = httphead.ForwardedFor(b, s.isTrustedProxy)
			return complete || len(b) == len(bp), nil // a head past the buffer: keep the peer
		})
		if err != nil {
			return peer, err
		}
		if ok {
			return netip.AddrPortFrom(client, 0), nil
		}
	}
	return peer, nil
}
