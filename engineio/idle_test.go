package engineio

import (
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/idlecost"
)

// idleSessions is how many sessions the idle cost test opens.
const idleSessions = 2000

// idleKinds are the idle sessions measured: a websocket, a polling session
// between two polls (no request of it open) and one with its GET pending.
var idleKinds = []struct {
	name string
	open func(addr, path string) (io.Closer, error)
}{
	{"websocket", func(addr, path string) (io.Closer, error) { return idlecost.DialWebSocket(addr, path, "") }},
	{"polling", func(addr, path string) (io.Closer, error) { return idlecost.DialPolling(addr, path, "", false) }},
	{"polling-get", func(addr, path string) (io.Closer, error) { return idlecost.DialPolling(addr, path, "", true) }},
}

// measureIdle opens n idle sessions of kind against a new server (pings an
// hour apart: none is due while it measures) and returns their cost.
func measureIdle(tb testing.TB, n int, open func(addr, path string) (io.Closer, error)) idlecost.Cost {
	tb.Helper()
	srv := NewServer(Options{PingInterval: time.Hour, PingTimeout: time.Hour})
	srv.idleAfter = 50 * time.Millisecond // idle websockets park soon
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()
	addr, path := ts.Listener.Addr().String(), srv.Options().Path
	warm, err := open(addr, path) // the accept loop, pools and timers warm
	if err != nil {
		tb.Fatal(err)
	}
	defer warm.Close()
	cost, conns, err := idlecost.Measure(n, 200*time.Millisecond, func() (io.Closer, error) { return open(addr, path) })
	if err != nil {
		tb.Fatal(err)
	}
	defer idlecost.CloseAll(conns)
	if got := srv.ClientsCount(); got != n+1 {
		tb.Errorf("%d sessions open, want %d", got, n+1)
	}
	return cost
}

// TestIdleSessionCost opens 2,000 idle sessions of each kind and checks,
// loosely (-race costs more), what each costs the server (the precise figures:
// BenchmarkIdleSession): an idle websocket holds no goroutine (Linux: it
// is parked in the server's readPoller; elsewhere one, its reader); an
// idle polling session none between polls, and net/http's two (the
// handler's, its connection's background read) while a GET is pending.
func TestIdleSessionCost(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections")
	}
	limits := map[string]struct{ goroutines, bytes float64 }{
		"websocket":   {0.05, 8 << 10}, // parked: no reader (Linux)
		"polling":     {0.05, 4 << 10},
		"polling-get": {2.05, 48 << 10}, // -race grows stacks
	}
	if !parksIdle {
		limits["websocket"] = struct{ goroutines, bytes float64 }{1.05, 16 << 10}
	}
	for _, kind := range idleKinds {
		t.Run(kind.name, func(t *testing.T) {
			cost := measureIdle(t, idleSessions, kind.open)
			t.Log(cost)
			lim := limits[kind.name]
			if cost.Goroutines > lim.goroutines {
				t.Errorf("%.2f goroutines per idle %s session, want <= %.2f", cost.Goroutines, kind.name, lim.goroutines)
			}
			if cost.Total() > lim.bytes {
				t.Errorf("%.0f bytes per idle %s session, want <= %.0f", cost.Total(), kind.name, lim.bytes)
			}
		})
	}
}

// BenchmarkIdleSession reports what one idle session costs the server:
// goroutines, live heap and stack bytes (the client's net.Conn in the same
// process adds about 250 heap bytes). Each op measures 2,000 sessions.
func BenchmarkIdleSession(b *testing.B) {
	for _, kind := range idleKinds {
		b.Run(kind.name, func(b *testing.B) {
			var cost idlecost.Cost
			for range b.N {
				cost = measureIdle(b, idleSessions, kind.open)
			}
			b.ReportMetric(cost.Goroutines, "goroutines/session")
			b.ReportMetric(cost.HeapBytes, "heap-B/session")
			b.ReportMetric(cost.StackBytes, "stack-B/session")
			b.ReportMetric(cost.Total(), "B/session")
		})
	}
}
