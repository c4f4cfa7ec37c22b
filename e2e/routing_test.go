package e2e

import (
	"testing"
)

// Two sessions owned by different workers share one kept-alive TCP
// connection (as two browser tabs behind one proxy connection do): every
// request must reach its session's worker, and the connection must stay open.
func TestKeepAliveConnectionSharedBySessionsOnTwoWorkers(t *testing.T) {
	c := startCluster(t, 2, nil)
	pc := newPollClient(c.URL, 1)
	defer pc.close()

	a := pc.open(t)
	pidA := a.whoami(t)
	// Session B is opened on connections of its own until the balancer puts
	// it on the other worker; from then on it uses the shared connection.
	var b *session
	for i := 0; i < 20 && b == nil; i++ {
		other := newPollClient(c.URL, 1)
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
