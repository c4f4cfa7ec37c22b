package primary

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
)

const wantUnknownSID = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 41\r\nConnection: close\r\n\r\n" +
	`{"code":1,"message":"Session ID unknown"}`

// sidsByInstance gets sids from fresh connections until it has one from
// each of n instances.
func sidsByInstance(t *testing.T, h *harness, n int) map[uint32]string {
	t.Helper()
	return collectSIDs(t, n, func() (string, error) {
		resp, body, err := h.get("/sid")
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("GET /sid: %s", resp.Status)
		}
		return body, err
	})
}

// collectSIDs calls newSID (one request for /sid) until it has a sid of
// each of n instances.
func collectSIDs(t *testing.T, n int, newSID func() (string, error)) map[uint32]string {
	t.Helper()
	sids := make(map[uint32]string)
	for i := 0; i < 200 && len(sids) < n; i++ {
		body, err := newSID()
		if err != nil {
			t.Fatal(err)
		}
		id, ok := ipc.SIDInstance(body)
		if !ok {
			t.Fatalf("worker returned undecodable sid %q", body)
		}
		sids[id] = body
	}
	if len(sids) < n {
		t.Fatalf("got sids of %d instances, want %d", len(sids), n)
	}
	return sids
}

// alternateSessions sends requests for the sessions of instances a and b,
// in turns (a, a, b, b, a, b), on the kept-alive connection c, and checks
// that each reached its instance.
func alternateSessions(t *testing.T, c net.Conn, br *bufio.Reader, sids map[uint32]string, a, b uint32) {
	t.Helper()
	for k, id := range []uint32{a, a, b, b, a, b} {
		_, body, err := roundTrip(c, br, "/who?sid="+sids[id])
		if err != nil {
			t.Fatalf("request %d: %v", k, err)
		}
		if got, want := body, fmt.Sprintf("instance=%d", id); got != want {
			t.Fatalf("request %d on the kept-alive connection reached %q, want %q", k, got, want)
		}
	}
}

// TestRouteBySID: a request whose sid names an instance always reaches it.
func TestRouteBySID(t *testing.T) {
	h := startSupervisor(t, "ok", Options{Workers: 3}, 3)
	sids := sidsByInstance(t, h, 3)
	for id, sid := range sids {
		for k := 0; k < 10; k++ {
			_, body, err := h.get("/who?EIO=4&transport=polling&sid=" + sid)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := body, fmt.Sprintf("instance=%d", id); got != want {
				t.Fatalf("sid of instance %d reached %q", id, got)
			}
		}
	}
}

// TestUnknownSID: a stale or undecodable sid gets the protocol's 400 from
// the primary itself, then the connection is closed.
func TestUnknownSID(t *testing.T) {
	h := startSupervisor(t, "ok", Options{Workers: 1}, 1)
	stale := ipc.EncodeSID(9999, [17]byte{1, 2, 3})
	for _, target := range []string{"/socket.io/?EIO=4&sid=" + stale, "/x?sid=abc", "/x?sid=" + strings.Repeat("A", 5000)} {
		got, err := h.rawExchange("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")
		if err != nil {
			t.Fatal(err)
		}
		if want := wantUnknownSID; got != want {
			t.Errorf("%.40s: got %q, want %q", target, got, want)
		}
	}
}

// TestNoWorkerReady: with no ready worker a request without sid gets a
// prompt 503 with Retry-After: 1.
func TestNoWorkerReady(t *testing.T) {
	h := startSupervisor(t, "noready", Options{Workers: 1, StartTimeout: time.Minute}, 0)
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if w, ok := h.instanceOf(1); !ok || w.PID == 0 {
			return fmt.Errorf("worker not spawned")
		}
		return nil
	})
	start := time.Now()
	resp, _, err := h.get("/")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.StatusCode, 503; got != want {
		t.Errorf("status %d, want %d", got, want)
	}
	if got, want := resp.Header.Get("Retry-After"), "1"; got != want {
		t.Errorf("Retry-After %q, want %q", got, want)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("503 took %v", d)
	}
}

// TestStartTimeoutRespawns: a worker that never becomes ready is killed at
// the start timeout and replaced by a new instance.
func TestStartTimeoutRespawns(t *testing.T) {
	h := startSupervisor(t, "noready", Options{Workers: 1, StartTimeout: 200 * time.Millisecond, RestartInitial: 10 * time.Millisecond}, 0)
	testutil.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		w, ok := h.instanceOf(1)
		if !ok || w.Instance < 3 || w.Restarts < 2 {
			return fmt.Errorf("slot 1: %+v, want instance >= 3 after 2 restarts", w)
		}
		return nil
	})
}

// TestBadRequestLines: each bad first line gets its answer and a close.
func TestBadRequestLines(t *testing.T) {
	h := startSupervisor(t, "ok", Options{Workers: 1}, 1)
	tests := []struct {
		name, req, wantPrefix string
	}{
		{"garbage", "hello there\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
		{"binary", "\x00\x01\x02\x03", "HTTP/1.1 400 Bad Request\r\n"},
		{"oversized", "GET /" + strings.Repeat("x", 9000) + " HTTP/1.1\r\n\r\n", "HTTP/1.1 414 URI Too Long\r\n"},
		{"oversized-unfinished", "GET /" + strings.Repeat("x", 9000), "HTTP/1.1 414 URI Too Long\r\n"},
		{"tls", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", ""},
		{"h2", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ""},
	}
	for _, tt := range tests {
		got, err := h.rawExchange(tt.req)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if tt.wantPrefix == "" && got != "" || !strings.HasPrefix(got, tt.wantPrefix) {
			t.Errorf("%s: got %q, want prefix %q", tt.name, got, tt.wantPrefix)
		}
	}
}

// TestKeepAliveHandBack: a kept-alive connection routed to instance A whose
// next request names instance B is handed back and answered by B; a next
// request naming a dead instance gets the unknown-sid 400.
func TestKeepAliveHandBack(t *testing.T) {
	h := startSupervisor(t, "ok", Options{Workers: 2}, 2)
	sids := sidsByInstance(t, h, 2)
	var ids []uint32
	for id := range sids {
		ids = append(ids, id)
	}
	a, b := ids[0], ids[1]
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	alternateSessions(t, c, br, sids, a, b)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /who?sid=%s HTTP/1.1\r\nHost: x\r\n\r\n", ipc.EncodeSID(777777, [17]byte{}))
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(rest), wantUnknownSID; got != want {
		t.Errorf("stale sid on kept-alive connection: got %q, want %q", got, want)
	}
}

// TestLeastConnBurstSpreads: a burst of concurrent handshakes spreads evenly
// because each hand-off counts as in flight on its worker before the next
// pick (the workers here never report Load).
func TestLeastConnBurstSpreads(t *testing.T) {
	h := startSupervisor(t, "noload", Options{Workers: 2}, 2)
	const n = 40
	errc := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			resp, _, err := h.get("/")
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
			errc <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range h.s.Status().Workers {
		if got, want := w.Inflight, int64(n/2); got != want {
			t.Errorf("instance %d got %d hand-offs, want %d", w.Instance, got, want)
		}
	}
}
