package primary

import (
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/balance"
	"github.com/stickyd/stickyd/nodeipc"
)

// slot is one of the N worker positions; its instances come and go.
type slot struct {
	id      int
	gen     uint32   // generation of the slot and its instances
	backoff *backoff // owned by the slot's goroutine
	// guarded by Supervisor.routingMu:
	restarts int
	current  *instance
	retired  bool // an old generation's slot: no more spawns
}

// superviseSlot keeps one worker running in sl until shutdown: spawn, await
// Ready (killing a worker that misses StartTimeout), wait for exit, back
// off, respawn.
func (s *Supervisor) superviseSlot(sl *slot) {
	log := s.log.With("slot", sl.id)
	for {
		in, err := s.spawn(sl)
		if err != nil {
			log.Error("cannot start worker", "error", err)
		} else {
			s.awaitExit(sl, in, log)
		}
		if !s.waitBackoff(sl, log) {
			return
		}
	}
}

// waitBackoff waits out sl's restart backoff after its worker exited and
// counts the restart. It returns false when the slot must not be respawned:
// the primary is stopping or the slot was retired by a reload.
func (s *Supervisor) waitBackoff(sl *slot, log hclog.Logger) bool {
	if s.isClosing() || s.slotRetired(sl) {
		return false
	}
	d := sl.backoff.exited()
	log.Info("restarting worker", "in", d)
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-s.stopping:
		t.Stop()
		return false
	}
	s.routingMu.Lock()
	sl.restarts++
	s.routingMu.Unlock()
	s.opts.Metrics.workerRestarted(sl.id)
	return true
}

// spawn starts a fresh instance in sl. The instance is registered before
// its process starts, so its Hello can never arrive first.
func (s *Supervisor) spawn(sl *slot) (*instance, error) {
	s.routingMu.Lock()
	if s.closing {
		s.routingMu.Unlock()
		return nil, ErrShuttingDown
	}
	if sl.retired {
		s.routingMu.Unlock()
		return nil, errSlotRetired
	}
	in, err := newInstance(s.newInstanceID(), sl.id, sl.gen)
	if err != nil {
		s.routingMu.Unlock()
		return nil, err
	}
	in.metrics = s.opts.Metrics.forInstance(sl.id, in.gen)
	s.instances[in.id] = in
	sl.current = in
	s.routingMu.Unlock()

	env := append(append([]string(nil), s.opts.Env...), in.env(s.ctlPath, s.hubPath, s.opts.Workers)...)
	var conn *nodeipc.Conn
	var files []*os.File
	if s.kind == WorkerKindNode {
		var child *os.File
		var err error
		if conn, child, err = nodeChannel(s.nodeMode); err != nil {
			s.routingMu.Lock()
			s.removeLocked(in)
			s.routingMu.Unlock()
			close(in.spawned)
			return nil, err
		}
		defer child.Close()
		files = []*os.File{child}
		env = append(env, s.nodeEnv(in, env)...)
	}
	p, err := startProcess(s.opts.Argv, env, files, s.log.With("slot", sl.id, "instance", in.id))
	s.routingMu.Lock()
	defer close(in.spawned)
	if err != nil {
		s.removeLocked(in)
		s.routingMu.Unlock()
		if conn != nil {
			conn.Close()
		}
		return nil, err
	}
	in.proc = p
	closing := s.closing || sl.retired
	s.routingMu.Unlock()
	if conn != nil && !s.startNodeLink(in, p, conn) {
		closing = true
	}
	if closing {
		p.Kill()
	}
	s.log.Info("worker started", "slot", sl.id, "instance", in.id, "pid", p.pid, "generation", in.gen)
	return in, nil
}

// awaitExit waits until in's process is gone, enforcing StartTimeout, and
// then removes in from routing.
func (s *Supervisor) awaitExit(sl *slot, in *instance, log hclog.Logger) {
	p := in.proc
	log = log.With("instance", in.id, "pid", p.pid)
	t := time.NewTimer(s.opts.StartTimeout)
	select {
	case <-in.readyCh:
		t.Stop()
		sl.backoff.ready()
		log.Info("worker ready", "after", time.Since(in.started).Round(time.Millisecond))
	case <-p.done:
		t.Stop()
	case <-t.C:
		log.Error("worker not ready in time; killing it", "timeout", s.opts.StartTimeout)
		p.Kill()
	}
	<-p.done
	s.routingMu.Lock()
	link := in.link
	s.removeLocked(in)
	s.routingMu.Unlock()
	if link != nil {
		link.Close()
	}
	s.hub.WorkerGone(in.id)
	s.relay.Leave(in.id)
	if s.isClosing() || s.drainSentTo(in) {
		log.Info("worker exited", "status", p.exitStatus())
	} else {
		log.Error("worker exited", "status", p.exitStatus())
	}
}

// removeLocked takes in out of routing for good. Call with s.routingMu held.
func (s *Supervisor) removeLocked(in *instance) {
	in.state = Gone
	delete(s.instances, in.id)
	s.forgetSIDsLocked(in)
	s.rebuildReadyLocked()
}

// rebuildReadyLocked recomputes the balancing candidates: ready instances
// of the newest generation, in slot order. Call with s.routingMu held.
func (s *Supervisor) rebuildReadyLocked() {
	s.changedLocked()
	s.ready = s.ready[:0]
	if s.closing {
		return
	}
	for _, sl := range s.slots {
		if in := sl.current; in != nil && in.state == Ready && in.gen == s.gen {
			s.ready = append(s.ready, balance.Worker(in))
		}
	}
}

// linkOf returns in's control link, or nil.
func (s *Supervisor) linkOf(in *instance) workerLink {
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	return in.link
}

// killInstance SIGKILLs in's process group (no-op if not started or gone).
func (s *Supervisor) killInstance(in *instance) {
	s.routingMu.Lock()
	p := in.proc
	s.routingMu.Unlock()
	p.Kill()
}
