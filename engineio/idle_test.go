package engineio

import (
	"io"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/idlecost"
)

// idleSessions is how many sessions the idle cost test opens.
const idleSessions = 2000

// idleKinds are the idle sessions measured: a websocket, a polling session
// between two polls (no request of it open) and one with its GET pending.
var idleKinds = []idlecost.Kind{
	{Name: "websocket", Open: func(addr, path string) (io.Closer, error) { return idlecost.DialWebSocket(addr, path, "") }},
	{Name: "polling", Open: func(addr, path string) (io.Closer, error) { return idlecost.DialPolling(addr, path, "", false) }},
	{Name: "polling-get", Open: func(addr, path string) (io.Closer, error) { return idlecost.DialPolling(addr, path, "", true) }},
}

// measureIdle opens n idle sessions of kind against a new server (pings an
// hour apart: none is due while it measures) and returns their cost.
func measureIdle(tb testing.TB, n int, open func(addr, path string) (io.Closer, error)) idlecost.Cost {
	tb.Helper()
	srv := NewServer(Options{PingInterval: time.Hour, PingTimeout: time.Hour})
	srv.idleAfter = 50 * time.Millisecond // idle websockets park soon
	defer srv.Close()
	return idlecost.MeasureServer(tb, srv, srv.Options().Path, n, 200*time.Millisecond, open, srv.ClientsCount)
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
	limits := map[string]idlecost.Limit{
		"websocket":   {Goroutines: 0.05, Bytes: 4096},     // parked: no reader (Linux); 3.1 KB under -race
		"polling":     {Goroutines: 0.05, Bytes: 1536},     // 0.9 KB
		"polling-get": {Goroutines: 2.05, Bytes: 48 << 10}, // -race grows stacks
	}
	if !ParksIdleWebSockets {
		limits["websocket"] = idlecost.Limit{Goroutines: 1.05, Bytes: 16 << 10}
	}
	idlecost.TestKinds(t, idleKinds, idleSessions, measureIdle, limits)
}

// BenchmarkIdleSession reports what one idle session costs the server:
// goroutines, live heap and stack bytes (the client's net.Conn in the same
// process adds about 250 heap bytes). Each op measures 2,000 sessions.
func BenchmarkIdleSession(b *testing.B) {
	idlecost.BenchmarkKinds(b, idleKinds, idleSessions, measureIdle)
}
