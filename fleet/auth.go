package fleet

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/stickyd/stickyd/proxyproto"
)

// AuthTLV is the PROXY v2 TLV type (in the custom range) of the fleet's
// authentication: version, kind, sender id, time, relay id, HMAC.
const AuthTLV = 0xE0

// MaxClockSkew is how far a header's timestamp may be from this host's
// clock.
const MaxClockSkew = 30 * time.Second

// authLen is the AuthTLV value's length: version 1, kind 1, sender 2,
// unix milliseconds 8, relay id 8, HMAC-SHA256 32.
const authLen = 1 + 1 + 2 + 8 + 8 + sha256.Size

// authVersion is the layout of the AuthTLV value.
const authVersion = 1

// ErrForged is returned (wrapped) by Verify for a header without a valid
// fleet authentication from a live member.
var ErrForged = errors.New("fleet: PROXY header not from a fleet member")

// Kind says what a connection between hosts is for.
type Kind byte

// Kinds of connection between hosts.
const (
	// KindRelay: a client connection relayed to the owner of its session.
	KindRelay Kind = 1
	// KindGiveBack: the owner gives a relayed connection back to the
	// host that relayed it (its next request names a third host).
	KindGiveBack Kind = 2
)

// Claim is what a verified header says.
type Claim struct {
	Kind    Kind
	From    uint16 // the sending host
	RelayID uint64 // the sender's id of the relay (KindRelay) or the receiver's (KindGiveBack)
}

// Header returns a PROXY v2 header for a connection of kind to another
// host: client src (the client's address; invalid: none) seen at dst,
// sealed with the fleet secret.
func (f *Fleet) Header(kind Kind, relayID uint64, src, dst netip.AddrPort) ([]byte, error) {
	return seal(f.opts.Secret, f.self, kind, relayID, src, dst, time.Now())
}

func seal(secret []byte, from uint16, kind Kind, relayID uint64, src, dst netip.AddrPort, now time.Time) ([]byte, error) {
	var v [authLen]byte
	v[0], v[1] = authVersion, byte(kind)
	binary.BigEndian.PutUint16(v[2:], from)
	binary.BigEndian.PutUint64(v[4:], uint64(now.UnixMilli()))
	binary.BigEndian.PutUint64(v[12:], relayID)
	h := proxyproto.HeaderV2{Command: proxyproto.CommandProxy, Src: src, Dst: dst, TLVs: []proxyproto.TLV{{Type: AuthTLV, Value: v[:]}}}
	if !src.IsValid() || !dst.IsValid() {
		h.Src, h.Dst = netip.AddrPort{}, netip.AddrPort{}
	}
	b, err := proxyproto.AppendV2(nil, h)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, secret)
	m.Write(b) // the MAC bytes are still zero
	copy(b[len(b)-sha256.Size:], m.Sum(nil))
	return b, nil
}

// Verify checks hdr, the n bytes of the header h that ParseV2 parsed: its
// AuthTLV is the last TLV, its HMAC is right under the fleet secret, its
// time is within MaxClockSkew and its sender a live member. Every failure
// wraps ErrForged.
func (f *Fleet) Verify(hdr []byte, h proxyproto.HeaderV2) (Claim, error) {
	return verify(f.opts.Secret, hdr, h, time.Now(), f.IsMember)
}

func verify(secret, hdr []byte, h proxyproto.HeaderV2, now time.Time, isMember func(uint16) bool) (Claim, error) {
	if len(h.TLVs) == 0 || h.TLVs[len(h.TLVs)-1].Type != AuthTLV || len(h.TLVs[len(h.TLVs)-1].Value) != authLen || len(hdr) < authLen {
		return Claim{}, fmt.Errorf("%w: no fleet authentication", ErrForged)
	}
	v := h.TLVs[len(h.TLVs)-1].Value
	if v[0] != authVersion {
		return Claim{}, fmt.Errorf("%w: authentication version %d", ErrForged, v[0])
	}
	signed := append([]byte(nil), hdr...)
	clear(signed[len(signed)-sha256.Size:])
	m := hmac.New(sha256.New, secret)
	m.Write(signed)
	if !hmac.Equal(m.Sum(nil), hdr[len(hdr)-sha256.Size:]) {
		return Claim{}, fmt.Errorf("%w: bad MAC", ErrForged)
	}
	c := Claim{Kind: Kind(v[1]), From: binary.BigEndian.Uint16(v[2:]), RelayID: binary.BigEndian.Uint64(v[12:])}
	at := time.UnixMilli(int64(binary.BigEndian.Uint64(v[4:])))
	if d := now.Sub(at); d > MaxClockSkew || d < -MaxClockSkew {
		return Claim{}, fmt.Errorf("%w: timestamp %s off by %s", ErrForged, at.UTC().Format(time.RFC3339), d)
	}
	if c.Kind != KindRelay && c.Kind != KindGiveBack {
		return Claim{}, fmt.Errorf("%w: kind %d", ErrForged, c.Kind)
	}
	if !isMember(c.From) {
		return Claim{}, fmt.Errorf("%w: host %d is not a live member", ErrForged, c.From)
	}
	return c, nil
}
