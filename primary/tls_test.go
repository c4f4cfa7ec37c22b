package primary

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/httphead"
	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
)

// startTLSSupervisor is startSupervisor with an HTTPS public listener.
func startTLSSupervisor(t *testing.T, workers int, opts Options) (*harness, *testutil.TestCert) {
	t.Helper()
	cert := testutil.NewTestCert(t)
	opts.Workers = workers
	opts.TLS = cert.ServerConfig()
	return startSupervisor(t, "ok", opts, workers), cert
}

// dialTLS opens a TLS connection to addr that trusts cert.
func dialTLS(t *testing.T, addr string, cert *testutil.TestCert) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cert.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c, bufio.NewReader(c)
}

// tlsSIDs collects a sid of each of n instances, one TLS connection per
// request.
func tlsSIDs(t *testing.T, h *harness, cert *testutil.TestCert, n int) map[uint32]string {
	t.Helper()
	return collectSIDs(t, n, func() (string, error) {
		c, br := dialTLS(t, h.addr, cert)
		defer c.Close()
		_, body, err := roundTrip(c, br, "/sid")
		return body, err
	})
}

// closedAfter dials addr over plain TCP, writes send and reports an error
// unless the primary closes the connection (within 10 s).
func closedAfter(addr, send string) ([]byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, send)
	return io.ReadAll(c)
}

// TestTLSRoutesBySIDAndHandsBack: over HTTPS the primary still routes each
// request by its sid, fresh connections and kept-alive ones alike (a
// request for the other worker's session on a kept-alive TLS connection
// is handed back and re-routed), and workers see the client's address,
// after a hand-back too.
func TestTLSRoutesBySIDAndHandsBack(t *testing.T) {
	h, cert := startTLSSupervisor(t, 2, Options{})
	sids := tlsSIDs(t, h, cert, 2)
	for id, sid := range sids {
		c, br := dialTLS(t, h.addr, cert)
		_, body, err := roundTrip(c, br, "/who?sid="+sid)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := body, fmt.Sprintf("instance=%d", id); got != want {
			t.Errorf("fresh TLS connection with the sid of %d reached %q", id, got)
		}
		c.Close()
	}
	var ids []uint32
	for id := range sids {
		ids = append(ids, id)
	}
	a, b := ids[0], ids[1]
	c, br := dialTLS(t, h.addr, cert)
	alternateSessions(t, c, br, sids, a, b)
	// The worker holding the connection now is b's; /addr with a's sid is
	// handed back to a, which must still see the client's address.
	for _, id := range []uint32{a, b} {
		_, body, err := roundTrip(c, br, "/addr?sid="+sids[id])
		if err != nil {
			t.Fatal(err)
		}
		if got, want := body, c.LocalAddr().String(); got != want {
			t.Errorf("worker %d saw client address %q, want %q", id, got, want)
		}
	}
}

// TestTLSBadInput: what each bad client of the HTTPS listener gets.
func TestTLSBadInput(t *testing.T) {
	m := NewMetrics()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	h, cert := startTLSSupervisor(t, 1, Options{PeekTimeout: 500 * time.Millisecond, Metrics: m})
	t.Run("plain HTTP on the TLS port: 400 saying so, closed", func(t *testing.T) {
		rest, err := closedAfter(h.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if err != nil {
			t.Fatalf("not closed: %v", err)
		}
		if got, want := string(rest), respPlainOnTLS; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("garbage instead of a ClientHello: closed", func(t *testing.T) {
		rest, err := closedAfter(h.addr, "\x00\x01garbage\r\n")
		if err != nil {
			t.Fatalf("not closed: %v", err)
		}
		if len(rest) > 7 { // at most a TLS alert
			t.Errorf("got %q", rest)
		}
	})
	t.Run("silent after the handshake: closed at the peek deadline", func(t *testing.T) {
		_, br := dialTLS(t, h.addr, cert)
		if _, err := io.ReadAll(br); err != nil {
			t.Fatalf("not closed cleanly: %v", err)
		}
	})
	t.Run("silent before the handshake: closed at the peek deadline", func(t *testing.T) {
		if _, err := closedAfter(h.addr, ""); err != nil {
			t.Fatalf("not closed: %v", err)
		}
	})
	for _, tt := range []struct {
		name, req, want string
	}{
		{"garbage request line", "\x01\x02 garbage\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
		{"request line over the limit", "GET /" + strings.Repeat("a", httphead.MaxRequestLine) + " HTTP/1.1\r\n\r\n", "HTTP/1.1 414 "},
		{"unknown sid", fmt.Sprintf("GET /?sid=%s HTTP/1.1\r\nHost: x\r\n\r\n", ipc.EncodeSID(777777, [17]byte{})), wantUnknownSID},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, br := dialTLS(t, h.addr, cert)
			io.WriteString(c, tt.req)
			got, err := io.ReadAll(br)
			if err != nil {
				t.Fatalf("after %q bytes: %v", got, err)
			}
			if !strings.HasPrefix(string(got), tt.want) {
				t.Errorf("got %q, want it to start with %q", got, tt.want)
			}
		})
	}
	// The listener still serves.
	c, br := dialTLS(t, h.addr, cert)
	if _, body, err := roundTrip(c, br, "/"); err != nil || !strings.HasPrefix(body, "instance=") {
		t.Fatalf("after the bad clients: %q %v", body, err)
	}
	want := map[Decision]float64{
		DecisionTLSHandshake: 3, // plain HTTP, garbage, silent before the handshake
		DecisionPeekTimeout:  1, // silent after it
		DecisionBadRequest:   1, DecisionURITooLong: 1, DecisionUnknownSID: 1, DecisionBalanced: 1,
	}
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		fams := testutil.Scrape(t, srv.URL+"/metrics")
		for d, w := range want {
			if got, _ := testutil.MetricValue(fams, "stickyd_routing_decisions_total", "decision", d.String()); got != w {
				return fmt.Errorf("decision %s: %v, want %v", d, got, w)
			}
		}
		return nil
	})
}

// TestTLSNoLeak: after 300 TLS connections, served or rejected, the
// primary's fds and goroutines are back at their baseline (the relays,
// socket pairs and TLS state are gone).
func TestTLSNoLeak(t *testing.T) {
	h, cert := startTLSSupervisor(t, 2, Options{})
	warm, br := dialTLS(t, h.addr, cert)
	roundTrip(warm, br, "/")
	warm.Close()
	base := testutil.TakeBaseline(t, testutil.Within(10*time.Second, 20*time.Millisecond))
	for i := 0; i < 300; i++ {
		c, br := dialTLS(t, h.addr, cert)
		switch i % 3 {
		case 0:
			if _, _, err := roundTrip(c, br, "/"); err != nil {
				t.Fatal(err)
			}
		case 1:
			io.WriteString(c, "GET /?sid=nope HTTP/1.1\r\nHost: x\r\n\r\n")
			io.ReadAll(br)
		case 2: // the client goes away mid-request
			io.WriteString(c, "GET / HT")
		}
		c.Close()
	}
	base.Check(t)
}

// relayCount returns the entries of the Supervisor's TLS relay id map.
func (h *harness) relayCount() int {
	h.s.relaysMu.Lock()
	defer h.s.relaysMu.Unlock()
	return len(h.s.relays)
}

// TestTLSRelayIDsBounded: a hostile client keeps one HTTPS connection
// alive and alternates between the sessions of two workers, so that every
// request is handed back and re-routed. The primary keeps one relay entry
// for the connection however often it moves (stickyd_tls_relays 1), and
// none once it is closed.
func TestTLSRelayIDsBounded(t *testing.T) {
	const requests = 200
	m := NewMetrics()
	h, cert := startTLSSupervisor(t, 2, Options{Metrics: m})
	sids := tlsSIDs(t, h, cert, 2)
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n := h.relayCount(); n != 0 {
			return fmt.Errorf("%d relay entries after the sid connections closed", n)
		}
		return nil
	})
	var ids []uint32
	for id := range sids {
		ids = append(ids, id)
	}
	c, br := dialTLS(t, h.addr, cert)
	for k := range requests {
		id := ids[k%2]
		c.SetDeadline(time.Now().Add(20 * time.Second))
		_, body, err := roundTrip(c, br, "/who?sid="+sids[id])
		if err != nil {
			t.Fatalf("request %d: %v", k, err)
		}
		if want := fmt.Sprintf("instance=%d", id); body != want {
			t.Fatalf("request %d reached %q, want %q", k, body, want)
		}
	}
	if n := h.relayCount(); n != 1 {
		t.Errorf("%d relay entries for one connection after %d hand-backs, want 1", n, requests-1)
	}
	if got := readValue(t, m.relays); got != 1 {
		t.Errorf("stickyd_tls_relays = %v, want 1", got)
	}
	c.Close()
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if n, g := h.relayCount(), readValue(t, m.relays); n != 0 || g != 0 {
			return fmt.Errorf("%d relay entries, stickyd_tls_relays %v after the close, want 0", n, g)
		}
		return nil
	})
}
