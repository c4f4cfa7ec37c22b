package primary

import (
	"time"

	"github.com/stickyd/stickyd/ipc"
)

// The sid table of Node workers. A Node sid is random (engine.io's
// base64id), so unlike a Go worker's it does not name its instance: each
// worker's @socket.io/sticky reports its sessions ({type:
// "sticky:connection"|"sticky:disconnection", data: sid}) and the table
// maps sid to instance. Engine.IO answers a handshake before it emits the
// session, so a client's next request can reach the primary before the
// registration does: such a request waits (awaitSID, Options.SIDWait)
// rather than getting 400 at once. The table lives under routingMu.

// registerSID records sid as in's session.
func (s *Supervisor) registerSID(in *instance, sid string) {
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	if in.state == Gone {
		return
	}
	if in.nodeSIDs == nil {
		in.nodeSIDs = make(map[string]struct{})
	}
	in.nodeSIDs[sid] = struct{}{}
	in.sessions = int64(len(in.nodeSIDs))
	s.sids[sid] = in.id
	if s.sidAdded != nil {
		close(s.sidAdded)
		s.sidAdded = nil
	}
	s.changedLocked()
}

// unregisterSID forgets sid, a session of in that ended.
func (s *Supervisor) unregisterSID(in *instance, sid string) {
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	if _, ok := in.nodeSIDs[sid]; !ok {
		return
	}
	delete(in.nodeSIDs, sid)
	in.sessions = int64(len(in.nodeSIDs))
	if s.sids[sid] == in.id {
		delete(s.sids, sid)
	}
	s.changedLocked()
}

// forgetSIDsLocked drops every sid of in, which is gone. Call with
// s.routingMu held.
func (s *Supervisor) forgetSIDsLocked(in *instance) {
	for sid := range in.nodeSIDs {
		if s.sids[sid] == in.id {
			delete(s.sids, sid)
		}
	}
	in.nodeSIDs = nil
}

// sidOwnerLocked returns the instance sid names: the one encoded in a
// stickyd sid, else the one that registered it. Call with s.routingMu
// held.
func (s *Supervisor) sidOwnerLocked(sid string) (uint32, bool) {
	if id, ok := ipc.SIDInstance(sid); ok {
		return id, true
	}
	id, ok := s.sids[sid]
	return id, ok
}

// awaitSID waits up to Options.SIDWait for a Node worker to register sid
// and reports whether one did. It returns false at once for Go workers,
// for a sid in stickyd's format (its instance is known or gone) and
// during shutdown.
func (s *Supervisor) awaitSID(sid string) bool {
	if s.kind != WorkerKindNode || s.opts.SIDWait <= 0 {
		return false
	}
	if _, ok := ipc.SIDInstance(sid); ok {
		return false
	}
	start := time.Now()
	t := time.NewTimer(s.opts.SIDWait)
	defer t.Stop()
	for {
		s.routingMu.Lock()
		_, ok := s.sids[sid]
		ch := s.sidAdded
		if !ok && ch == nil {
			ch = make(chan struct{})
			s.sidAdded = ch
		}
		s.routingMu.Unlock()
		if ok {
			s.log.Debug("sid registered while its request waited", "waited", time.Since(start))
			return true
		}
		select {
		case <-ch:
		case <-t.C:
			return false
		case <-s.stopping:
			return false
		}
	}
}
