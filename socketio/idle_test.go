package socketio

import (
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stickyd/stickyd/engineio"
	"github.com/stickyd/stickyd/internal/idlecost"
)

// idleSessions is how many sessions the idle cost test opens.
const idleSessions = 2000

// idleKinds are the idle Socket.IO sessions measured, each connected to
// the main namespace: over websocket, and over polling between two polls.
var idleKinds = []struct {
	name string
	open func(addr, path string) (io.Closer, error)
}{
	{"websocket", func(addr, path string) (io.Closer, error) { return idlecost.DialWebSocket(addr, path, "/") }},
	{"polling", func(addr, path string) (io.Closer, error) { return idlecost.DialPolling(addr, path, "/", false) }},
}

// measureIdle opens n idle sessions against a new server whose connection
// handler joins a room (as most apps do), and returns their cost.
func measureIdle(tb testing.TB, n int, open func(addr, path string) (io.Closer, error)) idlecost.Cost {
	tb.Helper()
	srv := NewServer(Options{Options: engineio.Options{PingInterval: time.Hour, PingTimeout: time.Hour}})
	srv.Of("/").OnConnection(func(s *Socket) { s.Join("lobby") })
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close()
	addr, path := ts.Listener.Addr().String(), srv.Engine().Options().Path
	warm, err := open(addr, path)
	if err != nil {
		tb.Fatal(err)
	}
	defer warm.Close()
	cost, conns, err := idlecost.Measure(n, 1500*time.Millisecond, func() (io.Closer, error) { return open(addr, path) })
	if err != nil {
		tb.Fatal(err)
	}
	defer idlecost.CloseAll(conns)
	if got := srv.Engine().ClientsCount(); got != n+1 {
		tb.Errorf("%d sessions open, want %d", got, n+1)
	}
	return cost
}

// TestIdleSessionCost opens 2,000 idle Socket.IO sessions of each kind
// and checks, loosely, what each costs (the precise figures:
// BenchmarkIdleSession): no goroutine per websocket (parked, on Linux;
// elsewhere one, its reader), none per polling session between polls.
func TestIdleSessionCost(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections")
	}
	limits := map[string]struct{ goroutines, bytes float64 }{
		// At most the reader (where engineio does not park idle
		// websockets; its own test checks that it does on Linux).
		"websocket": {1.05, 20 << 10},
		"polling":   {0.05, 8 << 10},
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

// BenchmarkIdleSession reports what one idle Socket.IO session costs:
// goroutines, live heap and stack bytes. Each op measures 2,000 sessions.
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
