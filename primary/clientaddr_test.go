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
