package admin

import (
	"errors"
	"testing"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/socketio"
)

// Instrument's goroutines end with Close (idempotent); none starts after.
func TestCloseEndsGoroutines(t *testing.T) {
	base := testutil.TakeBaseline(t)
	io := socketio.NewServer(socketio.Options{})
	a, err := Instrument(io, Options{Namespaces: []string{"/", "/chat"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if a.goStart(func() {}) {
		t.Fatal("a goroutine started after Close")
	}
	_ = io.Close()
	base.Check(t)
}

// Bad input: namespace names that are not names, or the admin namespace
// instrumented, are refused before the server is touched.
func TestBadNamespaces(t *testing.T) {
	io := socketio.NewServer(socketio.Options{})
	defer io.Close()
	for _, opts := range []Options{
		{Namespace: "admin"},
		{Namespaces: []string{"chat"}},
		{Namespaces: []string{"/", "/admin"}},
	} {
		if _, err := Instrument(io, opts); !errors.Is(err, ErrBadNamespace) {
			t.Errorf("%+v: %v, want ErrBadNamespace", opts, err)
		}
	}
}

// Stats name this server and count sockets per namespace, and drain the
// aggregated events.
func TestStats(t *testing.T) {
	io := socketio.NewServer(socketio.Options{})
	defer io.Close()
	a, err := Instrument(io, Options{ServerID: "here", Namespaces: []string{"/", "/chat"}})
	if err != nil {
		t.Fatal(err)
	}
	a.Close() // the stats loop drains the events too: stop it first
	a.events.push("rawConnection", "")
	a.events.push("rawConnection", "")
	st := a.stats()
	if st.ServerID != "here" || st.PID == 0 || len(st.Namespaces) != 3 {
		t.Fatalf("stats %+v", st)
	}
	total := 0 // two entries when the pushes straddle a second
	for _, e := range st.AggregatedEvents {
		if e.Type != "rawConnection" {
			t.Fatalf("aggregated event %+v", e)
		}
		total += e.Count
	}
	if total != 2 {
		t.Fatalf("aggregated events %+v, want 2 rawConnection", st.AggregatedEvents)
	}
	if again := a.stats(); len(again.AggregatedEvents) != 0 {
		t.Fatalf("events not drained: %+v", again.AggregatedEvents)
	}
}
