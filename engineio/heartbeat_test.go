package engineio

import (
	"sync"
	"testing"
	"time"
)

// TestHeartbeatPingsNeverEarly: each session's one heartbeat timer
// serves its pings and its pong deadlines: a ping comes no sooner than
// pingInterval after the pong that armed it, a session that answers stays
// open, and every session ends once its client has gone.
func TestHeartbeatPingsNeverEarly(t *testing.T) {
	const interval = 40 * time.Millisecond
	srv := newTestServer(t, Options{PingInterval: interval, PingTimeout: 2 * time.Second})
	const n, rounds = 20, 3
	clients := make([]*wsClient, n)
	for i := range clients {
		clients[i] = dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
		clients[i].mustRead() // open packet
	}
	var wg sync.WaitGroup
	errs := make(chan string, n*rounds)
	for _, ws := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ponged time.Time // the first ping was armed at the handshake
			for range rounds {
				m, err := ws.read()
				if err != nil || m != "2" {
					errs <- "want a ping, got " + m
					return
				}
				if d := time.Since(ponged); !ponged.IsZero() && d < interval {
					errs <- "ping " + d.String() + " after the pong"
				}
				ponged = time.Now()
				if err := ws.c.WriteMessage(1, []byte("3")); err != nil {
					errs <- err.Error()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	select {
	case ev := <-srv.closed:
		t.Fatalf("a session closed while answering pings: %+v", ev)
	default:
	}
	for _, ws := range clients {
		ws.c.Close()
	}
	waitNoSessions(t, srv.Server)
}

// TestHeartbeatOverdueNotEarly: a session that does not answer a ping
// is closed with "ping timeout", no sooner than pingTimeout after it.
func TestHeartbeatOverdueNotEarly(t *testing.T) {
	const timeout = 150 * time.Millisecond
	srv := newTestServer(t, Options{PingInterval: 20 * time.Millisecond, PingTimeout: timeout})
	ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
	ws.mustRead()
	if m := ws.mustRead(); m != "2" {
		t.Fatalf("got %q, want ping", m)
	}
	pinged := time.Now()
	ev := srv.waitClose(t)
	if ev.reason != ReasonPingTimeout {
		t.Fatalf("reason %q, want %q", ev.reason, ReasonPingTimeout)
	}
	if d := time.Since(pinged); d < timeout-5*time.Millisecond { // the ping's read is a little after its write
		t.Errorf("closed %v after the ping, want >= %v", d, timeout)
	}
}

// TestHeartbeatsOnGrid: heartbeats fall due on the server's grid of
// pingInterval/250 (at most 100 ms; none below 5 s), a grain at most
// after the full interval: sessions opened at different moments ping
// together.
func TestHeartbeatsOnGrid(t *testing.T) {
	for _, c := range []struct{ interval, grain time.Duration }{
		{time.Millisecond, 1},
		{300 * time.Millisecond, 1}, // exact below beatGridFrom
		{5 * time.Second, 20 * time.Millisecond},
		{25 * time.Second, 100 * time.Millisecond},
		{time.Hour, 100 * time.Millisecond},
	} {
		if g := beatGrainOf(c.interval); g != c.grain {
			t.Errorf("grain of %v: %v, want %v", c.interval, g, c.grain)
		}
	}
	const interval = 5 * time.Second
	srv := newTestServer(t, Options{PingInterval: interval, PingTimeout: time.Second})
	g := srv.beatGrain
	for range 5 {
		before := srv.clockNow()
		c := newPollClient(t, srv.url)
		c.handshake()
		after := srv.clockNow()
		found := false
		for _, s := range srv.snapshot() {
			if s.ID() != c.sid {
				continue
			}
			found = true
			s.mu.Lock()
			due := s.beatDue
			s.mu.Unlock()
			if due%g != 0 || due < before+int64(interval) || due >= after+int64(interval)+g {
				t.Errorf("ping due at %d: want a multiple of %d in [%d, %d)", due, g, before+int64(interval), after+int64(interval)+g)
			}
		}
		if !found {
			t.Fatalf("session %s not found", c.sid)
		}
	}
}
