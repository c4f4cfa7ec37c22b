package primary

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
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
		{"PROXY TCP4 192.0.2.1 198.51.100.2 99999 80\r\n", "", 0, false, true},
		{"PROXY TCP4 192.0.2.1\r\n", "", 0, false, true},
		{"PROXY " + strings.Repeat("x", 120), "", 0, false, true},
	}
	for _, tt := range tests {
		src, n, complete, err := parseProxyV1([]byte(tt.in))
		if tt.wantErr {
			if !errors.Is(err, ErrProxyHeader) {
				t.Errorf("%q: err = %v, want ErrProxyHeader", tt.in, err)
			}
			continue
		}
		if err != nil || src.String() != tt.wantSrc || n != tt.wantN || complete != tt.wantComplete {
			t.Errorf("%q: got %v %d %v %v, want %s %d %v", tt.in, src, n, complete, err, tt.wantSrc, tt.wantN, tt.wantComplete)
		}
	}
}

func TestForwardedFor(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
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
		{"GET / HTTP/1.1\r\nX-Forwarded-For: 198.51.100.1, garbage\r\n\r\n", "invalid IP", false, true},
		{"GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.7\r\n", "invalid IP", false, false},
	}
	for _, tt := range tests {
		got, ok, complete := forwardedFor([]byte(tt.head), proxies)
		if got.String() != tt.want || ok != tt.ok || complete != tt.complete {
			t.Errorf("%q: got %v %v %v, want %s %v %v", tt.head, got, ok, complete, tt.want, tt.ok, tt.complete)
		}
	}
}

// rawAt sends req on a new connection to addr and returns the whole answer.
func rawAt(t *testing.T, addr, req string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// With a trusted upstream, the worker is told the client address from the
// PROXY header (which the primary consumed) or from X-Forwarded-For (which
// the worker still sees); untrusted peers are reported as themselves.
func TestTrustedProxyClientAddr(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	t.Run("proxy-protocol", func(t *testing.T) {
		h := startSupervisor(t, "ok", Options{Workers: 1, ClientAddr: ClientAddrProxy, TrustedProxies: loopback}, 1)
		got := rawAt(t, h.addr, "PROXY TCP4 192.0.2.1 198.51.100.2 5678 80\r\nGET /addr HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if !strings.HasSuffix(got, "\r\n\r\n192.0.2.1:5678") {
			t.Fatalf("answer %q, want body 192.0.2.1:5678", got)
		}
		// a trusted peer without the header is closed, unanswered
		if got := rawAt(t, h.addr, "GET /addr HTTP/1.1\r\nHost: x\r\n\r\n"); got != "" {
			t.Fatalf("connection without PROXY header got %q, want a close", got)
		}
	})
	t.Run("x-forwarded-for", func(t *testing.T) {
		h := startSupervisor(t, "ok", Options{Workers: 1, ClientAddr: ClientAddrXFF, TrustedProxies: loopback}, 1)
		got := rawAt(t, h.addr, "GET /addr HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7, 127.0.0.5\r\nConnection: close\r\n\r\n")
		if !strings.HasSuffix(got, "\r\n\r\n203.0.113.7:0") {
			t.Fatalf("answer %q, want body 203.0.113.7:0", got)
		}
	})
	t.Run("untrusted peer", func(t *testing.T) {
		h := startSupervisor(t, "ok", Options{Workers: 1, ClientAddr: ClientAddrXFF, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, 1)
		got := rawAt(t, h.addr, "GET /addr HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\nConnection: close\r\n\r\n")
		if !strings.Contains(got, "\r\n\r\n127.0.0.1:") {
			t.Fatalf("answer %q, want the peer address", got)
		}
	})
}

func TestClientAddrOptionsValidated(t *testing.T) {
	for _, o := range []Options{
		{Argv: []string{"x"}, Workers: 1, ClientAddr: ClientAddrXFF},
		{Argv: []string{"x"}, Workers: 1, ClientAddr: "cookie", TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	} {
		if _, err := New(o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("New(%q): err = %v, want ErrBadOptions", o.ClientAddr, err)
		}
	}
}

// FuzzClientAddrHeaders: the PROXY and X-Forwarded-For parsers never panic
// and never report more bytes than they were given.
func FuzzClientAddrHeaders(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.1 198.51.100.2 5678 80\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nX-Forwarded-For: 203.0.113.7, 10.0.0.1\r\n\r\n"))
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, n, complete, err := parseProxyV1(b); complete && (err != nil || n > len(b)) {
			t.Fatalf("n=%d of %d, err=%v", n, len(b), err)
		}
		forwardedFor(b, proxies)
	})
}
