package engineio

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// parkedCount returns how many websockets of s are parked.
func parkedCount(s *Server) int {
	n := 0
	for _, so := range s.snapshot() {
		so.mu.Lock()
		if so.ws != nil && so.ws.parked {
			n++
		}
		so.mu.Unlock()
	}
	return n
}

// waitParked waits until n websockets of s are parked.
func waitParked(t *testing.T, s *Server, n int) {
	t.Helper()
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if got := parkedCount(s); got != n {
			return fmt.Errorf("%d websockets parked, want %d", got, n)
		}
		return nil
	})
}

// readAnsweringPings reads the next message, answering pings on the way;
// with onePing it returns "" after answering one.
func readAnsweringPings(t *testing.T, ws *wsClient, onePing bool) string {
	t.Helper()
	for {
		m := ws.mustRead()
		if m != "2" {
			return m
		}
		ws.send("3")
		if onePing {
			return ""
		}
	}
}

// newParkingServer is a test server whose idle websockets park at once.
func newParkingServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	if !ParksIdleWebSockets {
		t.Skip("idle websockets keep their reader on this OS")
	}
	srv := newTestServer(t, opts)
	srv.idleAfter = 10 * time.Millisecond
	return srv
}

// TestParkedWebSocketWakes: an idle websocket parks (no reader) and wakes
// for each message, for the pongs of pings that keep it alive, and when
// the server closes it; nothing leaks once the server is closed.
func TestParkedWebSocketWakes(t *testing.T) {
	base := testutil.TakeBaseline(t)
	srv := newParkingServer(t, Options{PingInterval: 50 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
	if m := ws.mustRead(); m[0] != '0' {
		t.Fatalf("open packet %q", m)
	}
	for i := range 3 {
		waitParked(t, srv.Server, 1)
		ws.send(fmt.Sprintf("4hello %d", i))
		if m := readAnsweringPings(t, ws, false); m != fmt.Sprintf("4hello %d", i) {
			t.Fatalf("echo %q", m)
		}
	}
	// Pings every 50 ms, each answered: the session outlives many ping
	// timeouts, parking between them.
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if m := readAnsweringPings(t, ws, true); m != "" {
			t.Fatalf("unexpected message %q", m)
		}
	}
	if n := srv.ClientsCount(); n != 1 {
		t.Fatalf("%d sessions after answered pings, want 1", n)
	}
	waitParked(t, srv.Server, 1)
	srv.Socket(srv.snapshot()[0].ID()).Close()
	for {
		if _, err := ws.read(); err != nil {
			break // the close frame
		}
	}
	ws.c.Close()
	if ev := srv.waitClose(t); ev.reason != ReasonForcedClose {
		t.Fatalf("close reason %q, want %q", ev.reason, ReasonForcedClose)
	}
	srv.Server.Close()
	srv.ts.Close()
	base.Check(t) // readers, the poller's goroutine and its fds are gone
}

// TestParkedWebSocketClientGone: a client that drops a parked websocket
// closes the session ("transport close"); one that stops answering pings
// gets "ping timeout".
func TestParkedWebSocketClientGone(t *testing.T) {
	srv := newParkingServer(t, Options{PingInterval: 50 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
	gone := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
	gone.mustRead()
	silent := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
	silent.mustRead()
	waitParked(t, srv.Server, 2)
	gone.c.Close()
	reasons := map[string]bool{}
	for range 2 {
		reasons[srv.waitClose(t).reason] = true
	}
	if !reasons[ReasonTransportClose] || !reasons[ReasonPingTimeout] {
		t.Fatalf("close reasons %v, want %q and %q", reasons, ReasonTransportClose, ReasonPingTimeout)
	}
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := parkedCount(srv.Server); n != 0 {
			return fmt.Errorf("%d parked after close", n)
		}
		if _, err := silent.read(); err == nil {
			return errors.New("silent client still served")
		}
		return nil
	})
}

// maskedText is a client's text frame of payload (FIN, masked with a
// zero-free key), as it goes on the wire.
func maskedText(payload string) []byte {
	key := [4]byte{0x11, 0x22, 0x33, 0x44}
	b := []byte{0x81, 0x80 | byte(len(payload)), key[0], key[1], key[2], key[3]}
	for i := range len(payload) {
		b = append(b, payload[i]^key[i%4])
	}
	return b
}

// TestParkedPongTakenByPoller: the pong of a parked websocket is read by
// the poller itself (no reader goroutine starts) and keeps the session
// alive; a pong glued to a message in one TCP segment goes to a reader,
// which handles both.
func TestParkedPongTakenByPoller(t *testing.T) {
	srv := newParkingServer(t, Options{PingInterval: 30 * time.Millisecond, PingTimeout: 500 * time.Millisecond})
	ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
	ws.mustRead()
	for i := range 5 {
		waitParked(t, srv.Server, 1)
		if m := ws.mustRead(); m != "2" {
			t.Fatalf("got %q, want a ping", m)
		}
		if _, err := ws.c.NetConn().Write(maskedText("3")); err != nil {
			t.Fatal(err)
		}
		want := uint64(i + 1)
		testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
			if n := srv.readPoll.pongs.Load(); n != want {
				return fmt.Errorf("%d pongs taken by the poller, want %d", n, want)
			}
			return nil
		})
	}
	if n := srv.ClientsCount(); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
	waitParked(t, srv.Server, 1)
	if m := ws.mustRead(); m != "2" {
		t.Fatalf("got %q, want a ping", m)
	}
	glued := append(maskedText("3"), maskedText("4after pong")...)
	if _, err := ws.c.NetConn().Write(glued); err != nil {
		t.Fatal(err)
	}
	if m := readAnsweringPings(t, ws, false); m != "4after pong" {
		t.Fatalf("echo %q, want 4after pong", m)
	}
	if n := srv.readPoll.pongs.Load(); n != 5 {
		t.Fatalf("%d pongs taken by the poller, want 5 (the glued one is a reader's)", n)
	}
}

// TestParkedWebSocketRearmed: a socket whose pong the poller took parks
// again without leaving the poller's epoll set (no epoll_ctl: a re-arm is
// counted), round after round, and a message its reader served parks it
// again too; a closed session's socket leaves the set with its close, so
// sessions opened after it (whose sockets may get the same number) park
// and wake too.
func TestParkedWebSocketRearmed(t *testing.T) {
	srv := newParkingServer(t, Options{PingInterval: 30 * time.Millisecond, PingTimeout: 2 * time.Second})
	for session := range 3 {
		ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
		ws.mustRead()
		for round := range 3 {
			waitParked(t, srv.Server, 1)
			rearms := srv.readPoll.rearms.Load()
			if m := ws.mustRead(); m != "2" {
				t.Fatalf("session %d round %d: got %q, want a ping", session, round, m)
			}
			if _, err := ws.c.NetConn().Write(maskedText("3")); err != nil {
				t.Fatal(err)
			}
			testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
				if n := srv.readPoll.rearms.Load(); n <= rearms {
					return fmt.Errorf("%d re-arms, want more than %d after the poller took a pong", n, rearms)
				}
				return nil
			})
			msg := fmt.Sprintf("4s%dr%d", session, round)
			ws.send(msg)
			if m := readAnsweringPings(t, ws, false); m != msg {
				t.Fatalf("echo %q, want %q", m, msg)
			}
		}
		ws.c.Close()
		waitNoSessions(t, srv.Server)
	}
}

// TestParkedWakeBytesGoToReader: what wakes a parked websocket and is not
// a lone pong (a message the size of a pong, one a byte longer, a long
// one) is read by the poller's single read only as far as its first 8
// bytes, which wait in the transport's connReader: the reader that starts
// gets every message whole, in order, and no pong is counted.
func TestParkedWakeBytesGoToReader(t *testing.T) {
	srv := newParkingServer(t, Options{PingInterval: time.Hour, PingTimeout: time.Hour})
	ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
	ws.mustRead()
	long := "4" + strings.Repeat("abcdefghij", 12)
	for _, msg := range []string{"4", "4x", long, "4", long} {
		waitParked(t, srv.Server, 1)
		if _, err := ws.c.NetConn().Write(maskedText(msg)); err != nil {
			t.Fatal(err)
		}
		if m := ws.mustRead(); m != msg {
			t.Fatalf("echo %q, want %q", m, msg)
		}
	}
	if n := srv.readPoll.pongs.Load(); n != 0 {
		t.Fatalf("%d pongs counted, want 0", n)
	}
}
