package redisproto

import (
	"encoding/hex"
	"testing"
)

func hexMsg(s string) ([]byte, error) { return hex.DecodeString(s) }

// seed adds every golden message, and truncations of it, to f.
func seed(f *testing.F) {
	for _, g := range loadGolden(f) {
		f.Add(g.msg)
		f.Add(g.msg[:len(g.msg)/2])
		f.Add(g.msg[:len(g.msg)-1])
	}
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add(deepArray(MaxDepth + 1))
}

// check fails unless err is nil or wraps one of the package's sentinels.
func check(t *testing.T, err error) {
	if err != nil && !isSentinel(err) {
		t.Fatalf("error without a sentinel: %v", err)
	}
}

func FuzzDecodeBroadcast(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		b, err := DecodeBroadcast(msg, "/")
		check(t, err)
		if err == nil {
			// what decodes re-encodes, and decodes to the same packet
			enc, err := EncodeBroadcast(b.UID, b.Packet, b.Opts)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			again, err := DecodeBroadcast(enc, "/")
			if err != nil {
				t.Fatalf("round trip: %v", err)
			}
			// invalid UTF-8 became U+FFFD once; from then on it is stable
			enc2, _ := EncodeBroadcast(again.UID, again.Packet, again.Opts)
			third, err := DecodeBroadcast(enc2, "/")
			if err != nil || third.Packet.Encoded().Text != again.Packet.Encoded().Text {
				t.Fatalf("round trip not stable: %v", err)
			}
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := DecodeRequest(msg, "/")
		check(t, err)
		if err == nil {
			_, err := EncodeRequest(r)
			check(t, err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := DecodeResponse(msg)
		check(t, err)
		if err == nil {
			_, err := r.FetchedSockets()
			check(t, err)
			_, err = r.SocketIDs()
			check(t, err)
		}
	})
}
