package engineio

import (
	"time"
)

// beginUpgrade registers t as the session's upgrade candidate. It reports
// false (and the caller closes t) if the session cannot upgrade: closed,
// already upgrading or upgraded, or not on polling.
func (s *Socket) beginUpgrade(t *wsTransport) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateClosed || s.upgrading != nil || s.upgraded || s.poll == nil {
		return false
	}
	s.upgrading = t
	t.upgradeTimer = time.AfterFunc(s.srv.opts.UpgradeTimeout, func() { s.abortUpgrade(t) })
	return true
}

// abortUpgrade drops upgrade candidate t (timeout, bad packet, read error);
// the session stays on polling.
func (s *Socket) abortUpgrade(t *wsTransport) {
	s.mu.Lock()
	if s.upgrading == t {
		s.upgrading = nil
		if s.poll != nil && s.poll.noopTimer != nil {
			s.poll.noopTimer.Stop()
		}
	}
	t.abortLocked()
	s.mu.Unlock()
}

// onProbePacket handles a packet on upgrade candidate t (Node's
// _maybeUpgrade): "2probe" is answered with "3probe" and the pending GET is
// released; "5" switches the session to t; anything else aborts. It returns
// whether t is still probing and whether to keep reading.
func (s *Socket) onProbePacket(t *wsTransport, p packet) (probing, ok bool) {
	s.mu.Lock()
	if s.upgrading != t {
		s.mu.Unlock()
		return false, false
	}
	switch {
	case p.typ == typePing && string(p.data) == "probe":
		// The pong goes out (at once, normally) before the pending GET
		// is released, so the client pauses polling on it.
		t.sendUnlock(framePongProbe)
		s.mu.Lock()
		if s.upgrading == t && s.poll != nil {
			s.poll.startUpgradeCheckLocked()
		}
		s.mu.Unlock()
		return true, true
	case p.typ == typeUpgrade && s.state != stateClosed:
		s.upgrading = nil
		t.upgradeTimer.Stop()
		if s.poll != nil {
			// Node discards polling: a GET still pending gets a close packet.
			s.poll.terminateLocked(ReasonForcedClose)
			s.poll.pendingClose = nil
			s.poll = nil
		}
		s.ws = t
		s.upgraded = true
		if s.state == stateClosing {
			t.closeAfterFlushLocked()
			s.mu.Unlock()
			return false, true
		}
		// As Node: the upgrade handlers run, then the queue is flushed.
		s.holdQueue = true
		cbs := s.onUpgrade
		s.mu.Unlock()
		s.srv.logger.Debug("upgraded", "sid", s.id)
		for _, fn := range cbs {
			fn()
		}
		s.mu.Lock()
		s.holdQueue = false
		s.flushLocked()
		s.mu.Unlock()
		return false, true
	}
	s.upgrading = nil
	if s.poll != nil && s.poll.noopTimer != nil {
		s.poll.noopTimer.Stop()
	}
	t.abortLocked()
	s.mu.Unlock()
	return false, false
}
