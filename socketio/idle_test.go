package socketio

import (
	"io"
	"testing"
	"time"

	"github.com/stickyd/stickyd/engineio"
	"github.com/stickyd/stickyd/internal/idlecost"
)

// idleSessions is how many sessions the idle cost test opens.
const idleSessions = 2000

// idleKinds are the idle Socket.IO sessions measured, each connected to
// the main namespace: over websocket, and over polling between two polls.
var idleKinds = []idlecost.Kind{
	{Name: "websocket", Open: func(addr, path string) (io.Closer, error) { return idlecost.DialWebSocket(addr, path, "/") }},
	{Name: "polling", Open: func(addr, path string) (io.Closer, error) { return idlecost.DialPolling(addr, path, "/", false) }},
}

// measureIdle opens n idle sessions against a new server whose connection
// handler joins a room (as most apps do), and returns their cost.
func measureIdle(tb testing.TB, n int, open func(addr, path string) (io.Closer, error)) idlecost.Cost {
	tb.Helper()
	srv := NewServer(Options{Options: engineio.Options{PingInterval: time.Hour, PingTimeout: time.Hour}})
	srv.Of("/").OnConnection(func(s *Socket) { s.Join("lobby") })
	defer srv.Close()
	// The engine parks an idle websocket after a second.
	return idlecost.MeasureServer(tb, srv, srv.Engine().Options().Path, n, 1500*time.Millisecond, open, srv.Engine().ClientsCount)
}

// TestIdleSessionCost opens 2,000 idle Socket.IO sessions of each kind
// and checks, loosely, what each costs (the precise figures:
// BenchmarkIdleSession): no goroutine per websocket (parked, on Linux;
// elsewhere one, its reader), none per polling session between polls.
func TestIdleSessionCost(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections")
	}
	limits := map[string]idlecost.Limit{
		// Parked: no reader (engineio.ParksIdleWebSockets, Linux).
		// 5.0 and 2.2 KB under -race (Linux).
		"websocket": {Goroutines: 0.05, Bytes: 6656},
		"polling":   {Goroutines: 0.05, Bytes: 3 << 10},
	}
	if !engineio.ParksIdleWebSockets { // a reader goroutine and its stack
		limits["websocket"] = idlecost.Limit{Goroutines: 1.05, Bytes: 16 << 10}
	}
	idlecost.TestKinds(t, idleKinds, idleSessions, measureIdle, limits)
}

// BenchmarkIdleSession reports what one idle Socket.IO session costs:
// goroutines, live heap and stack bytes. Each op measures 2,000 sessions.
func BenchmarkIdleSession(b *testing.B) {
	idlecost.BenchmarkKinds(b, idleKinds, idleSessions, measureIdle)
}
