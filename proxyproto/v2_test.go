package proxyproto

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

func TestV2RoundTrip(t *testing.T) {
	tests := []HeaderV2{
		{Command: CommandProxy, Src: netip.MustParseAddrPort("192.0.2.1:5678"), Dst: netip.MustParseAddrPort("198.51.100.2:80")},
		{Command: CommandProxy, Src: netip.MustParseAddrPort("[2001:db8::1]:1"), Dst: netip.MustParseAddrPort("[2001:db8::2]:443"),
			TLVs: []TLV{{Type: 0xE0, Value: []byte("auth")}, {Type: 0x01, Value: nil}}},
		{Command: CommandLocal},
	}
	for _, h := range tests {
		b, err := AppendV2(nil, h)
		if err != nil {
			t.Fatal(err)
		}
		stream := append(append([]byte{}, b...), "GET / HTTP/1.1\r\n"...)
		got, n, complete, err := ParseV2(stream)
		if err != nil || !complete || n != len(b) {
			t.Fatalf("ParseV2: n=%d complete=%v err=%v, want n=%d", n, complete, err, len(b))
		}
		if got.Command != h.Command || got.Src != h.Src || got.Dst != h.Dst || len(got.TLVs) != len(h.TLVs) {
			t.Fatalf("got %+v, want %+v", got, h)
		}
		for i := range h.TLVs {
			if got.TLVs[i].Type != h.TLVs[i].Type || !bytes.Equal(got.TLVs[i].Value, h.TLVs[i].Value) {
				t.Fatalf("TLV %d: %+v, want %+v", i, got.TLVs[i], h.TLVs[i])
			}
		}
		for k := 0; k < len(b); k++ { // every prefix is incomplete, not an error
			if _, _, complete, err := ParseV2(b[:k]); complete || err != nil {
				t.Fatalf("prefix %d: complete=%v err=%v", k, complete, err)
			}
		}
	}
}

// TestV2Bad: what each malformed header gets: ErrHeader, nothing consumed.
func TestV2Bad(t *testing.T) {
	good, _ := AppendV2(nil, HeaderV2{Command: CommandProxy, Src: netip.MustParseAddrPort("192.0.2.1:1"), Dst: netip.MustParseAddrPort("192.0.2.2:2")})
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte{}, good...)) }
	tests := map[string][]byte{
		"http":        []byte("GET / HTTP/1.1\r\n\r\n"),
		"v1":          []byte("PROXY TCP4 1.2.3.4 1.2.3.4 1 2\r\n"),
		"version 1":   mut(func(b []byte) []byte { b[12] = 0x11; return b }),
		"command 2":   mut(func(b []byte) []byte { b[12] = 0x22; return b }),
		"udp":         mut(func(b []byte) []byte { b[13] = 0x12; return b }),
		"unix":        mut(func(b []byte) []byte { b[13] = 0x31; return b }),
		"short addrs": mut(func(b []byte) []byte { b[15] = 4; return b[:20] }),
		"long":        mut(func(b []byte) []byte { b[14], b[15] = 0xff, 0xff; return b }),
		"bad tlv":     mut(func(b []byte) []byte { b[15] += 2; return append(b, 0xE0, 0) }),
		"overrun tlv": mut(func(b []byte) []byte { b[15] += 4; return append(b, 0xE0, 0, 9, 1) }),
		"one address": nil,
	}
	for name, in := range tests {
		if in == nil {
			_, err := AppendV2(nil, HeaderV2{Src: netip.MustParseAddrPort("1.2.3.4:1")})
			if !errors.Is(err, ErrHeader) {
				t.Errorf("%s: AppendV2 err = %v", name, err)
			}
			continue
		}
		if _, n, _, err := ParseV2(in); !errors.Is(err, ErrHeader) || n != 0 {
			t.Errorf("%s: n=%d err=%v, want ErrHeader", name, n, err)
		}
	}
}

// FuzzParseV2: ParseV2 never panics, fails only with ErrHeader, never
// reports more bytes than it was given, and a header it accepts encodes
// back to the same bytes.
func FuzzParseV2(f *testing.F) {
	b, _ := AppendV2(nil, HeaderV2{Command: CommandProxy, Src: netip.MustParseAddrPort("192.0.2.1:5678"), Dst: netip.MustParseAddrPort("198.51.100.2:80"), TLVs: []TLV{{Type: 0xE0, Value: []byte("x")}}})
	f.Add(b)
	b6, _ := AppendV2(nil, HeaderV2{Command: CommandProxy, Src: netip.MustParseAddrPort("[::1]:1"), Dst: netip.MustParseAddrPort("[::1]:2")})
	f.Add(b6)
	f.Add([]byte(V2Signature + "\x20\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, complete, err := ParseV2(b)
		if err != nil {
			if !errors.Is(err, ErrHeader) {
				t.Fatalf("err %v, want ErrHeader", err)
			}
			return
		}
		if !complete {
			return
		}
		if n > len(b) || n > MaxV2Header {
			t.Fatalf("n=%d of %d", n, len(b))
		}
		out, err := AppendV2(nil, h)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if h.Src.IsValid() && !bytes.Equal(out[16:], b[16:n]) {
			t.Fatalf("re-encoded % x, parsed % x", out, b[:n])
		}
	})
}
