package proxyproto

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// MaxV1Line is the longest PROXY protocol v1 line, CRLF included (the
// specification's 107 bytes).
const MaxV1Line = 107

// ErrHeader is returned (wrapped) for a PROXY protocol header that is malformed or too long, or bytes that do not start one.
var ErrHeader = errors.New("proxyproto: bad PROXY protocol header")

// ParseV1 parses a PROXY protocol v1 header at the start of b, the first
// bytes of a connection. It does not retain b. It
// returns the source address and the header's length, complete=false when
// b is a valid but unfinished prefix, or an error wrapping ErrHeader.
// "PROXY UNKNOWN" yields an invalid address (keep the peer's).
func ParseV1(b []byte) (src netip.AddrPort, n int, complete bool, err error) {
	const sig = "PROXY "
	if k := min(len(b), len(sig)); string(b[:k]) != sig[:k] {
		return src, 0, false, fmt.Errorf("%w: no PROXY signature", ErrHeader)
	}
	end := bytes.Index(b, []byte("\r\n"))
	if end < 0 {
		if len(b) >= MaxV1Line {
			return src, 0, false, fmt.Errorf("%w: line too long", ErrHeader)
		}
		return src, 0, false, nil
	}
	if end+2 > MaxV1Line {
		return src, 0, false, fmt.Errorf("%w: line too long", ErrHeader)
	}
	f := strings.Split(string(b[len(sig):end]), " ")
	if len(f) >= 1 && f[0] == "UNKNOWN" {
		return src, end + 2, true, nil
	}
	if len(f) != 5 || (f[0] != "TCP4" && f[0] != "TCP6") {
		return src, 0, false, fmt.Errorf("%w: %q", ErrHeader, b[:end])
	}
	tcp4 := f[0] == "TCP4"
	ip, ok := parseV1Addr(f[1], tcp4)
	if !ok {
		return src, 0, false, fmt.Errorf("%w: source %q", ErrHeader, f[1])
	}
	if _, ok := parseV1Addr(f[2], tcp4); !ok {
		return src, 0, false, fmt.Errorf("%w: destination %q", ErrHeader, f[2])
	}
	port, err := strconv.ParseUint(f[3], 10, 16)
	if err != nil {
		return src, 0, false, fmt.Errorf("%w: source port %q", ErrHeader, f[3])
	}
	if _, err := strconv.ParseUint(f[4], 10, 16); err != nil {
		return src, 0, false, fmt.Errorf("%w: destination port %q", ErrHeader, f[4])
	}
	return netip.AddrPortFrom(ip, uint16(port)), end + 2, true, nil
}

// parseV1Addr parses an address of a v1 header: of the header's family
// (IPv4 for TCP4, IPv6 for TCP6), without a zone.
func parseV1Addr(field string, tcp4 bool) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(field)
	if err != nil || ip.Zone() != "" || ip.Is4() != tcp4 {
		return netip.Addr{}, false
	}
	return ip, true
}
