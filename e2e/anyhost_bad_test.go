package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stickyd/stickyd/fleet"
	"github.com/stickyd/stickyd/internal/redistest"
	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/proxyproto"
)

const unknownSIDBody = `{"code":1,"message":"Session ID unknown"}`

// A host killed with SIGKILL: requests for its sessions, through HAProxy
// round robin, get 400 Session ID unknown at once (the relay cannot
// connect), a new handshake reaches the live host, and the sessions of
// the live host are untouched.
func TestAnyHostKilledHost(t *testing.T) {
	a, b := startTwoHosts(t, 1)
	front := "http://" + startHAProxy(t, a.Addr, b.Addr)
	onA := newPollClient(a.URL, 1).open(t)
	onB := newPollClient(b.URL, 1).open(t)
	pidA := onA.whoami(t)
	pc := newPollClient(front, 2)
	defer pc.close()
	onA.pc, onB.pc = pc, pc
	onB.whoami(t)

	b.kill()
	for i := 0; i < 4; i++ { // both HAProxy servers in turn
		start := time.Now()
		code, body, _ := pc.do("GET", "&sid="+onB.sid, "")
		if code != 400 || body != unknownSIDBody {
			t.Fatalf("request %d for a session of the killed host: %d %q, want 400 %s", i, code, body, unknownSIDBody)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("400 took %v, want at once", d)
		}
	}
	for i := 0; i < 10; i++ {
		if got := onA.whoami(t); got != pidA {
			t.Fatalf("session on the live host answered by pid %d, want %d", got, pidA)
		}
	}
	again := pc.open(t) // the client of the dead session reconnects
	if got := again.whoami(t); got != pidA {
		t.Fatalf("reconnected session answered by pid %d, want the live host's %d", got, pidA)
	}
}

// Bad input to a fleet host, and what each gets: a PROXY v2 header
// without the fleet's authentication (forged), one sealed with another
// secret (a non-member relaying), one sealed with the secret but naming
// a host that is not a live member: the connection is closed with nothing
// written (a reset, as the request behind the header stays unread), and
// counted as refused. A sid naming an unknown host: 400 Session ID
// unknown, also on a member's relay (never relayed on). A host id
// another live host holds: stickyd exits 1 at start-up, saying so.
func TestAnyHostBadInput(t *testing.T) {
	srv := redistest.Start(t)
	a := startFleetHost(t, srv.URL, 1, "--host-id", "101")
	client := netip.MustParseAddrPort("192.0.2.9:5555")
	dst := netip.MustParseAddrPort(a.Addr)
	request := "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"

	bare, err := proxyproto.AppendV2(nil, proxyproto.HeaderV2{Command: proxyproto.CommandProxy, Src: client, Dst: dst})
	if err != nil {
		t.Fatal(err)
	}
	sealed := func(secret string, id uint16) []byte {
		f, err := fleet.Join(context.Background(), fleet.Options{HostID: id, Advertise: "127.0.0.1:9", Secret: []byte(secret), Peers: map[uint16]string{}})
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := f.Header(fleet.KindRelay, 1, client, dst)
		if err != nil {
			t.Fatal(err)
		}
		return hdr
	}
	for name, hdr := range map[string][]byte{
		"forged header":      bare,
		"non-member secret":  sealed("not-the-fleet-secret-xyz", 77),
		"unknown member id":  sealed(anyHostSecret, 999),
		"truncated sealed":   sealed(anyHostSecret, 999)[:30],
		"garbage after sig ": append([]byte(proxyproto.V2Signature), 0x99, 0x99, 0, 0),
	} {
		got, err := exchange(a.Addr, append(hdr, request...))
		if (err != nil && !errors.Is(err, syscall.ECONNRESET)) || len(got) != 0 {
			t.Errorf("%s: got %q, %v; want the connection closed (reset: the request stays unread) with nothing written", name, got, err)
		}
	}
	if n := testutil.MetricSum(testutil.Scrape(t, a.metrics+"/metrics"), "stickyd_fleet_inbound_total", "result", "refused"); n < 3 {
		t.Errorf("%v refused connections counted, want at least 3", n)
	}

	sid, _ := ipc.NewSID(ipc.HostInstance(4242, 1))
	code, body, _ := newPollClient(a.URL, 1).do("GET", "&sid="+sid, "")
	if code != 400 || body != unknownSIDBody {
		t.Fatalf("sid of an unknown host: %d %q, want 400 %s", code, body, unknownSIDBody)
	}

	// A member's relay whose request names yet another host is answered
	// 400, never relayed on (no loops between hosts whose views differ).
	got, err := exchange(a.Addr, append(sealed(anyHostSecret, 101), "GET /socket.io/?EIO=4&transport=polling&sid="+sid+" HTTP/1.1\r\nHost: x\r\n\r\n"...))
	if err != nil || !strings.HasPrefix(string(got), "HTTP/1.1 400 ") || !strings.HasSuffix(string(got), unknownSIDBody) {
		t.Fatalf("relay naming a third host: %q %v, want 400 %s", got, err, unknownSIDBody)
	}

	cmd := exec.Command(bins.stickyd, "--listen", "127.0.0.1:0", "--workers", "1", "--control", controlPath(t),
		"--fleet-secret-file", secretFile(t, anyHostSecret), "--redis", srv.URL, "--host-id", "101", "--", bins.refapp)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out.String(), "host id 101 is held by "+a.Addr) {
		t.Fatalf("second host with id 101: %v\n%s", err, out.String())
	}
}

// exchange writes b on a fresh connection to addr and returns what comes
// back until the server closes (an error if it does not within 5 s).
func exchange(addr string, b []byte) ([]byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(b); err != nil {
		return nil, err
	}
	return io.ReadAll(c)
}
