package primary

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
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

// maxProxyLine is the longest PROXY protocol v1 line (spec: 107 bytes).
const maxProxyLine = 107

// ErrProxyHeader is returned for a connection from a trusted proxy whose
// PROXY protocol header is missing or malformed.
var ErrProxyHeader = errors.New("primary: bad PROXY protocol header")

// trusted reports whether addr is inside one of the trusted prefixes.
func trusted(prefixes []netip.Prefix, addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// parseProxyV1 parses a PROXY protocol v1 header at the start of b. It
// returns the source address and the header's length, complete=false when
// b is a valid but unfinished prefix, or an error wrapping ErrProxyHeader.
// "PROXY UNKNOWN" yields an invalid address (keep the peer's).
func parseProxyV1(b []byte) (src netip.AddrPort, n int, complete bool, err error) {
	const sig = "PROXY "
	if k := min(len(b), len(sig)); string(b[:k]) != sig[:k] {
		return src, 0, false, fmt.Errorf("%w: no PROXY signature", ErrProxyHeader)
	}
	end := bytes.Index(b, []byte("\r\n"))
	if end < 0 {
		if len(b) >= maxProxyLine {
			return src, 0, false, fmt.Errorf("%w: line too long", ErrProxyHeader)
		}
		return src, 0, false, nil
	}
	if end+2 > maxProxyLine {
		return src, 0, false, fmt.Errorf("%w: line too long", ErrProxyHeader)
	}
	f := strings.Split(string(b[len(sig):end]), " ")
	if len(f) >= 1 && f[0] == "UNKNOWN" {
		return src, end + 2, true, nil
	}
	if len(f) != 5 || (f[0] != "TCP4" && f[0] != "TCP6") {
		return src, 0, false, fmt.Errorf("%w: %q", ErrProxyHeader, b[:end])
	}
	ip, err := netip.ParseAddr(f[1])
	if err != nil || (f[0] == "TCP4") != ip.Is4() {
		return src, 0, false, fmt.Errorf("%w: source %q", ErrProxyHeader, f[1])
	}
	if _, err := netip.ParseAddr(f[2]); err != nil {
		return src, 0, false, fmt.Errorf("%w: destination %q", ErrProxyHeader, f[2])
	}
	port, err := strconv.ParseUint(f[3], 10, 16)
	if err != nil {
		return src, 0, false, fmt.Errorf("%w: source port %q", ErrProxyHeader, f[3])
	}
	if _, err := strconv.ParseUint(f[4], 10, 16); err != nil {
		return src, 0, false, fmt.Errorf("%w: destination port %q", ErrProxyHeader, f[4])
	}
	return netip.AddrPortFrom(ip, uint16(port)), end + 2, true, nil
}

// forwardedFor returns the client address named by the X-Forwarded-For
// headers of the request head in b (request line included): the rightmost
// entry that is not itself a trusted proxy. complete=false means the head
// has not ended yet within b; ok=false means there is no usable entry.
func forwardedFor(b []byte, prefixes []netip.Prefix) (client netip.Addr, ok, complete bool) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return client, false, false
	}
	var entries []string
	for _, line := range bytes.Split(b[:end], []byte("\r\n"))[1:] {
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found || !strings.EqualFold(string(bytes.TrimSpace(name)), "X-Forwarded-For") {
			continue
		}
		for _, e := range strings.Split(string(value), ",") {
			entries = append(entries, strings.TrimSpace(e))
		}
	}
	for i := len(entries) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(entries[i])
		if err != nil {
			if ap, err2 := netip.ParseAddrPort(entries[i]); err2 == nil {
				a = ap.Addr()
			} else {
				return client, false, true // garbage: do not trust anything left of it
			}
		}
		if !trusted(prefixes, a) {
			return a.Unmap(), true, true
		}
	}
	return client, false, true
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
	bp := peekBufs.Get().(*[MaxRequestLine]byte)
	defer peekBufs.Put(bp)
	switch mode {
	case ClientAddrProxy:
		var src netip.AddrPort
		var n int
		err := peek(rc, bp[:maxProxyLine], func(b []byte) (bool, error) {
			var complete bool
			var err error
			src, n, complete, err = parseProxyV1(b)
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
			client, ok, complete = forwardedFor(b, s.opts.TrustedProxies)
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
