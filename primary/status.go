package primary

import (
	"sort"
	"time"
)

// WorkerStatus describes one worker instance.
type WorkerStatus struct {
	Slot       int
	Instance   uint32
	PID        int
	Generation uint32
	State      State
	Sessions   int64 // from the worker's latest Load
	Conns      int64 // from the worker's latest Load
	Inflight   int64 // handed off, not yet reported received
	Restarts   int   // respawns of this slot so far
	Started    time.Time
}

// Status is a snapshot of the Supervisor.
type Status struct {
	Generation uint32
	Workers    []WorkerStatus // sorted by slot, then instance
}

// Status returns a snapshot of every live worker instance. It is safe for
// concurrent use and takes the routing lock briefly.
func (s *Supervisor) Status() Status {
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	st := Status{Generation: s.gen}
	restarts := make(map[int]int, len(s.slots))
	for _, sl := range s.slots {
		restarts[sl.id] = sl.restarts
	}
	for _, in := range s.instances {
		ws := WorkerStatus{
			Slot: in.slot, Instance: in.id, Generation: in.gen, State: in.state,
			Sessions: in.sessions, Conns: in.conns, Restarts: restarts[in.slot], Started: in.started,
		}
		ws.Inflight = in.Load() - in.sessions
		if in.proc != nil {
			ws.PID = in.proc.pid
		}
		st.Workers = append(st.Workers, ws)
	}
	sort.Slice(st.Workers, func(i, j int) bool {
		a, b := st.Workers[i], st.Workers[j]
		return a.Slot < b.Slot || a.Slot == b.Slot && a.Instance < b.Instance
	})
	return st
}
