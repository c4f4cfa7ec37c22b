package e2e

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"testing"

	"github.com/stickyd/stickyd/internal/testutil"
)

// Two sessions owned by different workers share one kept-alive TCP
// connection (as two browser tabs behind one proxy connection do): every
// request must reach its session's worker, and the connection must stay open.
func TestKeepAliveConnectionSharedBySessionsOnTwoWorkers(t *testing.T) {
	c := startCluster(t, 2, nil)
	keepAliveShared(t, c.URL, nil)
}

// TestKeepAliveOverHTTPS: the same through --tls-cert: on one kept-alive
// TLS connection, requests of two sessions on two workers each reach their
// own (the primary relays the connection and re-routes it on hand-back).
func TestKeepAliveOverHTTPS(t *testing.T) {
	cert := testutil.NewTestCert(t)
	c := startCluster(t, 2, []string{"--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile})
	keepAliveShared(t, "https://"+c.Addr, cert.ClientConfig())
}

// keepAliveShared runs two polling sessions on two workers over one
// kept-alive connection to base (TLS with tlsConf when not nil).
func keepAliveShared(t *testing.T, base string, tlsConf *tls.Config) {
	newClient := func() *pollClient {
		pc := newPollClient(base, 1)
		pc.hc.Transport.(*http.Transport).TLSClientConfig = tlsConf
		return pc
	}
	pc := newClient()
	defer pc.close()

	a := pc.open(t)
	pidA := a.whoami(t)
	// Session B is opened on connections of its own until the balancer puts
	// it on the other worker; from then on it uses the shared connection.
	var b *session
	for i := 0; i < 20 && b == nil; i++ {
		other := newClient()
		s := other.open(t)
		if s.whoami(t) != pidA {
			b = s
		}
		other.close()
	}
	if b == nil {
		t.Fatalf("20 new connections never reached a second worker")
	}
	b.pc = pc
	pidB := b.whoami(t)
	for i := 0; i < 50; i++ {
		if got := a.whoami(t); got != pidA {
			t.Fatalf("round %d: session A answered by pid %d, want %d", i, got, pidA)
		}
		if got := b.whoami(t); got != pidB {
			t.Fatalf("round %d: session B answered by pid %d, want %d", i, got, pidB)
		}
	}
	if got := pc.dials.Load(); got != 1 {
		t.Fatalf("client dialled %d TCP connections, want 1 (keep-alive reuse)", got)
	}
}

// TestLargeMessagesOverHTTPS: bodies much larger than a TLS record and the
// relay's buffers cross the relay intact both ways: a 300 KB event posted
// over polling comes back byte for byte in its ack, on the same worker.
func TestLargeMessagesOverHTTPS(t *testing.T) {
	cert := testutil.NewTestCert(t)
	c := startCluster(t, 2, []string{"--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile})
	pc := newPollClient("https://"+c.Addr, 1)
	pc.hc.Transport.(*http.Transport).TLSClientConfig = cert.ClientConfig()
	defer pc.close()
	s := pc.open(t)
	pid := s.whoami(t)
	big := make([]byte, 300<<10)
	for i := range big {
		big[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[i%36]
	}
	for k := 0; k < 3; k++ {
		id := s.nextAck
		s.nextAck++
		s.post(t, fmt.Sprintf(`42%d["message-with-ack",%q]`, id, big))
		want := fmt.Sprintf(`43%d[%q]`, id, big)
		if got := s.expect(t, fmt.Sprintf("43%d", id)); got != want {
			t.Fatalf("round %d: ack of %d bytes differs from the %d sent", k, len(got), len(want))
		}
		if got := s.whoami(t); got != pid {
			t.Fatalf("round %d: session moved from pid %d to %d", k, pid, got)
		}
	}
}
