package httphead

import (
	"net/netip"
	"testing"
)

func TestForwardedFor(t *testing.T) {
	proxies := netip.MustParsePrefix("10.0.0.0/8")
	isProxy := func(a netip.Addr) bool { return proxies.Contains(a) }
	tests := []struct {
		head         string
		want         string
		ok, complete bool
	}{
		{"GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n", "203.0.113.7", true, true},
		{"GET / HTTP/1.1\r\nx-forwarded-for: 198.51.100.1, 203.0.113.7, 10.1.2.3\r\n\r\n", "203.0.113.7", true, true},
		{"GET / HTTP/1.1\r\nX-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: 203.0.113.9:1234\r\n\r\n", "203.0.113.9", true, true},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "invalid IP", false, true},
		{"GET / HTTP/1.1\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n", "invalid IP", false, true},
		{"GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.7, ::ffff:10.0.0.1\r\n\r\n", "203.0.113.7", true, true},
		{"GET / HTTP/1.1\r\nX-Forwarded-For: 198.51.100.1, garbage\r\n\r\n", "invalid IP", false, true},
		{"GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.7\r\n", "invalid IP", false, false},
	}
	for _, tt := range tests {
		got, ok, complete := ForwardedFor([]byte(tt.head), isProxy)
		if got.String() != tt.want || ok != tt.ok || complete != tt.complete {
			t.Errorf("%q: got %v %v %v, want %s %v %v", tt.head, got, ok, complete, tt.want, tt.ok, tt.complete)
		}
	}
}

// FuzzForwardedFor: ForwardedFor never panics and names only an address
// that is no proxy.
func FuzzForwardedFor(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.7, 10.0.0.1\r\n\r\n"))
	proxies := netip.MustParsePrefix("10.0.0.0/8")
	isProxy := func(a netip.Addr) bool { return proxies.Contains(a.Unmap()) }
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, ok, _ := ForwardedFor(b, isProxy); ok && isProxy(a) {
			t.Fatalf("named proxy %v", a)
		}
	})
}
