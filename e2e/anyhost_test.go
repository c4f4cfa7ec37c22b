package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/redistest"
	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
)

// Any host routes any session: two stickyd hosts on one Redis behind
// HAProxy round robin (mode http, no stickiness): the official client
// over polling only, websocket only and polling then upgrade, every
// request reaching the worker that owns its session (the node tests
// fail on any error). Both hosts relayed, and `stickyd status` lists
// the fleet.
func TestAnyHostHAProxyOfficialClient(t *testing.T) {
	a, b := startTwoHosts(t, 2)
	front := startHAProxy(t, a.Addr, b.Addr)
	runNode(t, "http://"+front, 4, "transports.test.mjs")
	relayed := testutil.MetricSum(testutil.Scrape(t, a.metrics+"/metrics"), "stickyd_fleet_relays_total", "outcome", "relayed") +
		testutil.MetricSum(testutil.Scrape(t, b.metrics+"/metrics"), "stickyd_fleet_relays_total", "outcome", "relayed")
	if relayed == 0 {
		t.Fatal("no connection was relayed between the hosts")
	}
	for _, h := range []*fleetHost{a, b} {
		if n := testutil.MetricSum(testutil.Scrape(t, h.metrics+"/metrics"), "stickyd_fleet_relays_total", "outcome", "failed"); n != 0 {
			t.Fatalf("%s: %v failed relays", h.Addr, n)
		}
	}
	code, out, errs := ctl(t, "status", "--control", a.control)
	if code != 0 || !strings.Contains(out, "fleet: 2 hosts") || !strings.Contains(out, a.Addr) || !strings.Contains(out, b.Addr) {
		t.Fatalf("stickyd status: exit %d\n%s%s", code, out, errs)
	}
}

// startTwoHosts starts a redis-server and two fleet hosts on it with
// workers workers each, and waits until each sees the other.
func startTwoHosts(t *testing.T, workers int, extra ...string) (a, b *fleetHost) {
	t.Helper()
	srv := redistest.Start(t)
	a = startFleetHost(t, srv.URL, workers, extra...)
	b = startFleetHost(t, srv.URL, workers, extra...)
	waitFleet(t, a, 2)
	waitFleet(t, b, 2)
	return a, b
}

// waitFleet waits until h's status lists n hosts.
func waitFleet(t *testing.T, h *fleetHost, n int) {
	t.Helper()
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if got := len(statusOf(t, h.control).Fleet); got != n {
			return fmt.Errorf("%d of %d hosts: %w", got, n, errNotYet)
		}
		return nil
	})
}

// A keep-alive connection to host A carries requests of a session on A
// and of one on B, alternately: the first request for B is relayed there
// with the connection; the next one for A is handed back by B's worker
// and given back to A, which routes it to its own worker; every request
// reaches its worker, over one TCP connection, also after the connection
// idled longer than the peek timeout (a relay is not bound by it).
func TestAnyHostKeepAliveAlternatesHosts(t *testing.T) {
	const peekTimeout = 300 * time.Millisecond
	a, b := startTwoHosts(t, 1, "--peek-timeout", peekTimeout.String())
	onA := newPollClient(a.URL, 1).open(t)
	other := newPollClient(b.URL, 1)
	onB := other.open(t)
	pidA, pidB := onA.whoami(t), onB.whoami(t)
	other.close()

	pc := newPollClient(a.URL, 1)
	defer pc.close()
	onA.pc, onB.pc = pc, pc
	for i := 0; i < 20; i++ {
		if got := onB.whoami(t); got != pidB {
			t.Fatalf("round %d: session on B answered by pid %d, want %d", i, got, pidB)
		}
		if i == 0 {
			time.Sleep(2 * peekTimeout) // idle while relayed (not synchronisation: the test is about elapsed time)
		}
		if got := onA.whoami(t); got != pidA {
			t.Fatalf("round %d: session on A answered by pid %d, want %d", i, got, pidA)
		}
	}
	if got := pc.dials.Load(); got != 1 {
		t.Fatalf("client dialled %d connections, want 1", got)
	}
	if n := testutil.MetricSum(testutil.Scrape(t, b.metrics+"/metrics"), "stickyd_fleet_relays_total", "outcome", "gave_back"); n < 10 {
		t.Fatalf("B gave back %v connections, want one per round", n)
	}
}

// A static fleet without Redis (--host-id, --peer): a session of B is
// reached through A, and a sid of a host not in the list gets 400.
func TestAnyHostStaticPeers(t *testing.T) {
	p1, p2 := freePort(t), freePort(t)
	secret := secretFile(t, anyHostSecret)
	host := func(id, port, peerID, peerPort int) *cluster {
		return startCluster(t, 1, []string{"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--control", controlPath(t),
			"--fleet-secret-file", secret, "--host-id", fmt.Sprint(id), "--peer", fmt.Sprintf("%d=127.0.0.1:%d", peerID, peerPort)}, fastPings...)
	}
	a := host(1, p1, 2, p2)
	b := host(2, p2, 1, p1)
	other := newPollClient(b.URL, 1)
	onB := other.open(t)
	pidB := onB.whoami(t)
	other.close()
	pc := newPollClient(a.URL, 1)
	defer pc.close()
	onB.pc = pc
	for i := 0; i < 5; i++ {
		if got := onB.whoami(t); got != pidB {
			t.Fatalf("session on B through A answered by pid %d, want %d", got, pidB)
		}
	}
	sid, _ := ipc.NewSID(ipc.HostInstance(3, 1))
	if code, body, _ := pc.do("GET", "&sid="+sid, ""); code != 400 || body != unknownSIDBody {
		t.Fatalf("sid of host 3: %d %q, want 400 %s", code, body, unknownSIDBody)
	}
}

// Through HAProxy round robin with `http-reuse always` (its server
// connections shared by every client, so one carries requests of sessions
// of both hosts), sessions of both hosts share two kept-alive client
// connections through it, with requests of several sessions in flight at
// once:
// every request reaches the worker that owns its session, and relayed
// connections are given back to the host that relayed them.
func TestAnyHostHAProxyKeepAliveShared(t *testing.T) {
	a, b := startTwoHosts(t, 1)
	front := "http://" + startHAProxyWith(t, "  http-reuse always", a.Addr, b.Addr)
	pc := newPollClient(front, 2)
	defer pc.close()
	sessions := make([]*session, 6)
	pids := make([]int, len(sessions))
	for i := range sessions { // on A and B in turn
		opener := newPollClient([]string{a.URL, b.URL}[i%2], 1)
		sessions[i] = opener.open(t)
		pids[i] = sessions[i].whoami(t)
		opener.close()
		sessions[i].pc = pc
	}
	errs := make(chan string, len(sessions))
	for i, s := range sessions {
		go func() {
			g := &goTB{} // its Fatalf ends this goroutine (Goexit): the deferred send reports it
			msg := ""
			defer func() {
				if f := g.failures(); len(f) > 0 {
					msg = fmt.Sprintf("session %d: %s", i, strings.Join(f, "; "))
				}
				errs <- msg
			}()
			for round := 0; round < 15; round++ {
				if got := s.whoami(g); got != pids[i] {
					msg = fmt.Sprintf("session %d round %d: pid %d, want %d", i, round, got, pids[i])
					return
				}
			}
		}()
	}
	for range sessions {
		if e := <-errs; e != "" {
			t.Fatal(e)
		}
	}
	if got := pc.dials.Load(); got > 2 {
		t.Fatalf("client dialled %d connections, want at most 2", got)
	}
	gaveBack := testutil.MetricSum(testutil.Scrape(t, a.metrics+"/metrics"), "stickyd_fleet_relays_total", "outcome", "gave_back") +
		testutil.MetricSum(testutil.Scrape(t, b.metrics+"/metrics"), "stickyd_fleet_relays_total", "outcome", "gave_back")
	if gaveBack == 0 {
		t.Fatal("no relayed connection was given back")
	}
}
