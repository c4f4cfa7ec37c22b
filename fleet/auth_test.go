package fleet

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stickyd/stickyd/proxyproto"
)

var testSecret = []byte("0123456789abcdef-fleet-secret")

// TestAnyHostAuth: a sealed header verifies and says who sent it; what
// each forgery gets (ErrForged).
func TestAnyHostAuth(t *testing.T) {
	src, dst := netip.MustParseAddrPort("192.0.2.7:4000"), netip.MustParseAddrPort("127.0.0.1:3000")
	now := time.Now()
	members := func(id uint16) bool { return id == 7 }
	parse := func(b []byte) proxyproto.HeaderV2 {
		h, n, complete, err := proxyproto.ParseV2(b)
		if err != nil || !complete || n != len(b) {
			t.Fatalf("ParseV2: %v %v %d/%d", err, complete, n, len(b))
		}
		return h
	}
	good, err := seal(testSecret, 7, KindRelay, 42, src, dst, now)
	if err != nil {
		t.Fatal(err)
	}
	h := parse(good)
	c, err := verify(testSecret, good, h, now, members)
	if err != nil || c != (Claim{Kind: KindRelay, From: 7, RelayID: 42}) || h.Src != src {
		t.Fatalf("verify: %+v %v src %v", c, err, h.Src)
	}
	flip := append([]byte{}, good...)
	flip[20] ^= 1 // the client address
	stranger, _ := seal(testSecret, 9, KindRelay, 1, src, dst, now)
	stale, _ := seal(testSecret, 7, KindRelay, 1, src, dst, now.Add(-time.Minute))
	otherSecret, _ := seal([]byte("another secret of 16+ bytes"), 7, KindRelay, 1, src, dst, now)
	bare, _ := proxyproto.AppendV2(nil, proxyproto.HeaderV2{Command: proxyproto.CommandProxy, Src: src, Dst: dst})
	for name, b := range map[string][]byte{"tampered address": flip, "non-member": stranger, "stale": stale, "other secret": otherSecret, "no TLV": bare} {
		if _, err := verify(testSecret, b, parse(b), now, members); !errors.Is(err, ErrForged) {
			t.Errorf("%s: err = %v, want ErrForged", name, err)
		}
	}
}
