package proxyproto

import (
	"errors"
	"strings"
	"testing"
)

func TestParseProxyV1(t *testing.T) {
	tests := []struct {
		in           string
		wantSrc      string
		wantN        int
		wantComplete bool
		wantErr      bool
	}{
		{"PROXY TCP4 192.0.2.1 198.51.100.2 5678 80\r\nGET / HTTP/1.1\r\n", "192.0.2.1:5678", 43, true, false},
		{"PROXY TCP6 2001:db8::1 2001:db8::2 5678 443\r\n", "[2001:db8::1]:5678", 45, true, false},
		{"PROXY UNKNOWN\r\n", "invalid AddrPort", 15, true, false},
		{"PROXY TCP4 192.0.2.1 198.51.100.2 56", "invalid AddrPort", 0, false, false},
		{"PRO", "invalid AddrPort", 0, false, false},
		{"GET / HTTP/1.1\r\n", "", 0, false, true},
		{"PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n", "", 0, false, true},
		{"PROXY TCP4 192.0.2.1 2001:db8::2 1 2\r\n", "", 0, false, true},    // destination of the other family
		{"PROXY TCP6 2001:db8::1 192.0.2.2 1 2\r\n", "", 0, false, true},    // likewise for TCP6
		{"PROXY TCP6 fe80::1%eth0 2001:db8::2 1 2\r\n", "", 0, false, true}, // zones are not addresses on the wire
		{"PROXY TCP4 192.0.2.1 198.51.100.2 99999 80\r\n", "", 0, false, true},
		{"PROXY TCP4 192.0.2.1\r\n", "", 0, false, true},
		{"PROXY " + strings.Repeat("x", 120), "", 0, false, true},
	}
	for _, tt := range tests {
		src, n, complete, err := ParseV1([]byte(tt.in))
		if tt.wantErr {
			if !errors.Is(err, ErrHeader) {
				t.Errorf("%q: err = %v, want ErrHeader", tt.in, err)
			}
			continue
		}
		if err != nil || src.String() != tt.wantSrc || n != tt.wantN || complete != tt.wantComplete {
			t.Errorf("%q: got %v %d %v %v, want %s %d %v", tt.in, src, n, complete, err, tt.wantSrc, tt.wantN, tt.wantComplete)
		}
	}
}

// FuzzParseV1: ParseV1 never panics, never reports more bytes than it was
// given, and fails only with ErrHeader.
func FuzzParseV1(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.1 198.51.100.2 5678 80\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, n, complete, err := ParseV1(b)
		if err != nil && !errors.Is(err, ErrHeader) {
			t.Fatalf("err %v, want ErrHeader", err)
		}
		if complete && (err != nil || n > len(b) || n > MaxV1Line) {
			t.Fatalf("n=%d of %d, err=%v", n, len(b), err)
		}
	})
}
