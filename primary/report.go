package primary

import (
	"os"
	"sort"
	"time"

	"github.com/stickyd/stickyd/operator"
)

// Report returns the answer to the operator's status command (see package
// operator): Status plus the latest
// reload and the generations still draining. Safe for concurrent use.
func (s *Supervisor) Report() *operator.StatusReport {
	r := statusReport(s.Status(), os.Getpid(), time.Now())
	s.routingMu.Lock()
	r.Reload = s.reloads.report
	gens := map[uint32]bool{}
	for _, in := range s.instances {
		if in.gen < s.gen {
			gens[in.gen] = true
		}
	}
	s.routingMu.Unlock()
	for g := range gens {
		r.Reload.Draining = append(r.Reload.Draining, g)
	}
	sort.Slice(r.Reload.Draining, func(i, j int) bool { return r.Reload.Draining[i] < r.Reload.Draining[j] })
	r.Fleet = s.fleetReport()
	return r
}

// statusReport builds the operator's report of st at now.
func statusReport(st Status, pid int, now time.Time) *operator.StatusReport {
	r := &operator.StatusReport{PID: pid, Generation: st.Generation, Workers: []operator.WorkerReport{}}
	for _, w := range st.Workers {
		r.Workers = append(r.Workers, operator.WorkerReport{
			Slot: w.Slot, Instance: w.Instance, PID: w.PID, Generation: w.Generation, State: w.State.String(),
			UptimeSec: now.Sub(w.Started).Seconds(), Sessions: w.Sessions, Connections: w.Conns, Restarts: w.Restarts,
		})
		r.Totals.Workers++
		if w.State == Ready && w.Generation == st.Generation {
			r.Totals.Ready++
		}
		r.Totals.Sessions += w.Sessions
		r.Totals.Connections += w.Conns
	}
	return r
}
