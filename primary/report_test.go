package primary

import (
	"fmt"
	"testing"
	"time"
)

// TestStatusReport: the operator's report counts every worker, but as
// ready only those of the current generation, and sums their load.
func TestStatusReport(t *testing.T) {
	now := time.Now()
	st := Status{Generation: 2, Workers: []WorkerStatus{
		{Slot: 1, Instance: 7, PID: 100, Generation: 2, State: Ready, Sessions: 3, Conns: 4, Restarts: 1, Started: now.Add(-time.Minute)},
		{Slot: 1, Instance: 3, PID: 90, Generation: 1, State: Draining, Sessions: 1, Conns: 1},
		{Slot: 2, Instance: 4, PID: 91, Generation: 1, State: Ready},
	}}
	r := statusReport(st, 42, now)
	if got, want := fmt.Sprintf("pid=%d gen=%d workers=%d totals=%+v", r.PID, r.Generation, len(r.Workers), r.Totals),
		"pid=42 gen=2 workers=3 totals={Workers:3 Ready:1 Sessions:4 Connections:5}"; got != want {
		t.Errorf("report %s, want %s", got, want)
	}
	if w := r.Workers[0]; w.State != "ready" || w.UptimeSec != 60 || w.Restarts != 1 || w.Connections != 4 {
		t.Errorf("first worker %+v", w)
	}
}
