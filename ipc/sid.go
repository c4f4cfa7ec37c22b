package ipc

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
)

// SIDLen is the length in characters of every sid EncodeSID returns.
const SIDLen = 28

// sidRandom is the number of random bytes in a sid (136 bits).
const sidRandom = 17

// EncodeSID returns the sid for instance and random: the unpadded base64url
// encoding of the 4-byte big-endian instance followed by the 17 random bytes.
func EncodeSID(instance uint32, random [17]byte) string {
	var raw [4 + sidRandom]byte
	binary.BigEndian.PutUint32(raw[:4], instance)
	copy(raw[4:], random[:])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// NewSID returns a fresh sid for instance with 136 bits from crypto/rand.
func NewSID(instance uint32) (string, error) {
	var r [sidRandom]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("ipc: sid randomness: %w", err)
	}
	return EncodeSID(instance, r), nil
}

// sidAlphabet maps a base64url character to its 6-bit value, or 0xff.
var sidAlphabet = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(chars); i++ {
		t[chars[i]] = byte(i)
	}
	return t
}()

// SIDInstance returns the instance id encoded in sid. It reports false when
// sid is not SIDLen base64url characters, i.e. not issued by EncodeSID. It
// does not allocate.
func SIDInstance(sid string) (uint32, bool) {
	if len(sid) != SIDLen {
		return 0, false
	}
	var acc uint64
	for i := 0; i < SIDLen; i++ {
		v := sidAlphabet[sid[i]]
		if v == 0xff {
			return 0, false
		}
		if i < 6 {
			acc = acc<<6 | uint64(v)
		}
	}
	// 6 characters hold 36 bits: the 32-bit instance and 4 bits of randomness.
	return uint32(acc >> 4), true
}

// HostShift is where a fleet host's id sits in the instance ids it
// assigns: an instance id is host<<HostShift | n, so every sid (which
// starts with its instance id) names its host too, with no extra bytes.
// Host 0 is a host outside any fleet.
const HostShift = 16

// MaxHostInstance is the largest per-host instance number n.
const MaxHostInstance = 1<<HostShift - 1

// HostInstance returns the instance id of the n-th instance of host
// (n masked to its 16 bits).
func HostInstance(host uint16, n uint32) uint32 {
	return uint32(host)<<HostShift | n&MaxHostInstance
}

// InstanceHost returns the fleet host that assigned instance.
func InstanceHost(instance uint32) uint16 { return uint16(instance >> HostShift) }

// SIDHost returns the fleet host id encoded in sid (0 outside a fleet).
// It reports false when sid is not one of EncodeSID's. It does not
// allocate.
func SIDHost(sid string) (uint16, bool) {
	inst, ok := SIDInstance(sid)
	return InstanceHost(inst), ok
}
