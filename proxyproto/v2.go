package proxyproto

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// V2Signature is the 12 bytes every PROXY protocol v2 header starts with.
const V2Signature = "\r\n\r\n\x00\r\nQUIT\n"

// v2FixedLen is the signature, version/command, family/protocol and length.
const v2FixedLen = 16

// MaxV2Header is the longest v2 header ParseV2 accepts: the fixed part
// and 1 KiB of addresses and TLVs (the specification allows 64 KiB; a
// longer header is refused rather than buffered).
const MaxV2Header = v2FixedLen + 1024

// Version 2 commands.
const (
	CommandLocal = 0x0 // the sender's own connection (health checks): keep the peer
	CommandProxy = 0x1 // a relayed connection: Src is the client
)

// TLV is one type-length-value entry of a v2 header.
type TLV struct {
	Type  byte
	Value []byte
}

// HeaderV2 is a PROXY protocol v2 header over TCP. Src and Dst are both
// valid (encoded as IPv4 when both are IPv4 or IPv4-mapped, else as IPv6)
// or both invalid (family UNSPEC). ParseV2 returns IPv6 addresses as sent
// (possibly IPv4-mapped).
type HeaderV2 struct {
	Command byte
	Src     netip.AddrPort
	Dst     netip.AddrPort
	TLVs    []TLV
}

// HasV2Signature reports whether b, the first bytes of a connection, start
// with (or, shorter, are a prefix of) the v2 signature.
func HasV2Signature(b []byte) bool {
	k := min(len(b), len(V2Signature))
	return k > 0 && string(b[:k]) == V2Signature[:k]
}

// AppendV2 appends the encoding of h to b. It fails (ErrHeader) when only
// one address is valid, the command is unknown, or the header would exceed
// MaxV2Header.
func AppendV2(b []byte, h HeaderV2) ([]byte, error) {
	src, dst := unmap(h.Src), unmap(h.Dst)
	var fam byte
	var addrLen int
	switch {
	case !src.IsValid() && !dst.IsValid():
		fam, addrLen = 0x00, 0
	case src.Addr().Is4() && dst.Addr().Is4():
		fam, addrLen = 0x11, 12
	case src.IsValid() && dst.IsValid():
		fam, addrLen = 0x21, 36 // IPv6, or one of each: IPv4 as IPv4-mapped IPv6
	default:
		return b, fmt.Errorf("%w: source %v and destination %v: one is missing", ErrHeader, h.Src, h.Dst)
	}
	if h.Command > CommandProxy {
		return b, fmt.Errorf("%w: command %d", ErrHeader, h.Command)
	}
	n := addrLen
	for _, t := range h.TLVs {
		n += 3 + len(t.Value)
	}
	if v2FixedLen+n > MaxV2Header {
		return b, fmt.Errorf("%w: header of %d bytes", ErrHeader, v2FixedLen+n)
	}
	b = append(b, V2Signature...)
	b = append(b, 0x20|h.Command, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	if addrLen > 0 {
		if addrLen == 12 {
			sa, da := src.Addr().As4(), dst.Addr().As4()
			b = append(b, sa[:]...)
			b = append(b, da[:]...)
		} else {
			sa, da := src.Addr().As16(), dst.Addr().As16()
			b = append(b, sa[:]...)
			b = append(b, da[:]...)
		}
		b = binary.BigEndian.AppendUint16(b, src.Port())
		b = binary.BigEndian.AppendUint16(b, dst.Port())
	}
	for _, t := range h.TLVs {
		b = append(b, t.Type)
		b = binary.BigEndian.AppendUint16(b, uint16(len(t.Value)))
		b = append(b, t.Value...)
	}
	return b, nil
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	if !ap.IsValid() {
		return ap
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// ParseV2 parses a PROXY protocol v2 header at the start of b. It returns
// the header (its TLV values alias b), its length, complete=false when b
// is a valid but unfinished prefix, or an error wrapping ErrHeader: no v2
// signature, a version other than 2, an unknown command, a transport
// other than TCP (STREAM), an address block too short for its family,
// malformed TLVs or a header beyond MaxV2Header. Family UNSPEC yields
// invalid addresses.
func ParseV2(b []byte) (h HeaderV2, n int, complete bool, err error) {
	if len(b) == 0 {
		return h, 0, false, nil
	}
	if !HasV2Signature(b) {
		return h, 0, false, fmt.Errorf("%w: no v2 signature", ErrHeader)
	}
	if len(b) < v2FixedLen {
		return h, 0, false, nil
	}
	verCmd, fam := b[12], b[13]
	if verCmd>>4 != 2 || verCmd&0xf > CommandProxy {
		return h, 0, false, fmt.Errorf("%w: version/command %#x", ErrHeader, verCmd)
	}
	body := int(binary.BigEndian.Uint16(b[14:16]))
	if v2FixedLen+body > MaxV2Header {
		return h, 0, false, fmt.Errorf("%w: header of %d bytes", ErrHeader, v2FixedLen+body)
	}
	if len(b) < v2FixedLen+body {
		return h, 0, false, nil
	}
	h.Command = verCmd & 0xf
	p := b[v2FixedLen : v2FixedLen+body]
	var addrLen int
	switch fam {
	case 0x00:
	case 0x11:
		addrLen = 12
	case 0x21:
		addrLen = 36
	default:
		return h, 0, false, fmt.Errorf("%w: family/transport %#x", ErrHeader, fam)
	}
	if len(p) < addrLen {
		return h, 0, false, fmt.Errorf("%w: %d address bytes, want %d", ErrHeader, len(p), addrLen)
	}
	if addrLen > 0 {
		ipLen := (addrLen - 4) / 2
		src, _ := netip.AddrFromSlice(p[:ipLen])
		dst, _ := netip.AddrFromSlice(p[ipLen : 2*ipLen])
		h.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(p[2*ipLen:]))
		h.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(p[2*ipLen+2:]))
	}
	for t := p[addrLen:]; len(t) > 0; {
		if len(t) < 3 {
			return h, 0, false, fmt.Errorf("%w: truncated TLV", ErrHeader)
		}
		l := int(binary.BigEndian.Uint16(t[1:3]))
		if len(t) < 3+l {
			return h, 0, false, fmt.Errorf("%w: TLV %#x of %d bytes overruns the header", ErrHeader, t[0], l)
		}
		h.TLVs = append(h.TLVs, TLV{Type: t[0], Value: t[3 : 3+l : 3+l]})
		t = t[3+l:]
	}
	return h, v2FixedLen + body, true, nil
}

// TLVValue returns the value of h's first TLV of type typ.
func (h HeaderV2) TLVValue(typ byte) ([]byte, bool) {
	for _, t := range h.TLVs {
		if t.Type == typ {
			return t.Value, true
		}
	}
	return nil, false
}
