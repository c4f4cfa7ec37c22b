package primary

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/operator"
)

// Defaults of the reload options.
const (
	// DefaultReloadDrainTimeout is how long an old generation keeps serving
	// its sessions after a reload before it is drained.
	DefaultReloadDrainTimeout = 5 * time.Minute
	// DefaultMaxGenerations caps the generations running at once.
	DefaultMaxGenerations = 3
)

var (
	// ErrReloadFailed is returned by Supervisor.Reload when the new generation did not become ready; the old one keeps serving.
	ErrReloadFailed = errors.New("primary: reload failed")
	// ErrNotRunning is returned by Supervisor.Reload before Run has started the workers.
	ErrNotRunning = errors.New("primary: supervisor not running")
)

// errSlotRetired is returned by spawn for a slot of an old generation.
var errSlotRetired = errors.New("primary: slot retired by a reload")

// reloadState is the Supervisor's record of reloads; guarded by
// Supervisor.routingMu.
type reloadState struct {
	lastGen uint32                // the highest generation number used
	report  operator.ReloadReport // the latest reload
}

// trial is the verdict on a generation being started: commit is valid once
// decided is closed.
type trial struct {
	decided chan struct{}
	commit  bool
}

// Reload performs a rolling reload: it starts a new generation of workers
// (the app is exec'd again, so a new binary on disk is picked up) and waits
// up to StartTimeout for each to become ready. Then, atomically for routing,
// connections without a sid go to the new generation only, while sids of
// the old generation still reach their workers. Each old worker is sent
// Drain once it reports no sessions and no connections, or when
// ReloadDrainTimeout has passed, and is killed if it has not exited
// ShutdownTimeout after that. Old workers that die are not respawned. When
// more than MaxGenerations generations would be running, the oldest are
// drained at once.
//
// If a worker of the new generation exits, misses StartTimeout, or ctx ends
// first, the new generation is killed, the old one keeps serving and Reload
// returns an error wrapping ErrReloadFailed with the reason (also shown by
// Status until the next reload). Reloads are serialised: a second call
// waits for the first. Reload sends RELOADING=1 and then READY=1 to the
// Notifier. It returns ErrShuttingDown once shutdown has begun and
// ErrNotRunning before Run.
func (s *Supervisor) Reload(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.routingMu.Lock()
	switch {
	case s.closing:
		s.routingMu.Unlock()
		return ErrShuttingDown
	case len(s.slots) == 0:
		s.routingMu.Unlock()
		return ErrNotRunning
	}
	s.reloads.lastGen++
	gen := s.reloads.lastGen
	s.reloads.report = operator.ReloadReport{Count: s.reloads.report.Count + 1, InProgress: true, Generation: gen}
	slots := make([]*slot, s.opts.Workers)
	for i := range slots {
		slots[i] = &slot{id: i + 1, gen: gen, backoff: newBackoff(s.opts.RestartInitial, s.opts.RestartMax, s.opts.HealthyAfter, nil)}
	}
	s.routingMu.Unlock()
	log := s.log.With("generation", gen)
	log.Info("reload: starting a new generation", "workers", len(slots))
	s.opts.Notifier.Reloading(fmt.Sprintf("reloading: starting generation %d", gen))

	if s.reloadGate != nil {
		s.reloadGate()
	}
	tr := &trial{decided: make(chan struct{})}
	results := make(chan error, len(slots))
	var err error
	for _, sl := range slots {
		if !s.slotRunners.start(func() { s.trialSlot(sl, tr, results) }) {
			err = ErrShuttingDown // shutdown began since the check above
			break
		}
	}
	for range slots {
		if err != nil {
			break
		}
		select {
		case err = <-results:
		case <-ctx.Done():
			err = ctx.Err()
		case <-s.stopping:
			err = ErrShuttingDown
		}
	}
	var old []*instance
	s.routingMu.Lock()
	if err == nil && s.closing {
		err = ErrShuttingDown
	}
	if err == nil {
		old = s.commitLocked(gen, slots)
	}
	s.reloads.report.InProgress = false
	s.reloads.report.At = time.Now()
	if err != nil {
		s.reloads.report.Error = err.Error()
	}
	tr.commit = err == nil
	close(tr.decided)
	status := s.statusLineLocked()
	s.routingMu.Unlock()

	if err != nil {
		log.Error("reload failed; the previous generation keeps serving", "error", err)
		s.opts.Notifier.Ready(status)
		if errors.Is(err, ErrShuttingDown) {
			return err
		}
		return fmt.Errorf("%w: generation %d: %w", ErrReloadFailed, gen, err)
	}
	log.Info("reload: new generation serving; draining the old ones", "old_workers", len(old), "drain_timeout", s.opts.ReloadDrainTimeout)
	deadline := time.Now().Add(s.opts.ReloadDrainTimeout)
	for _, in := range old {
		// new sessions arriving on its kept-alive connections go back to
		// the primary and on to the new generation
		if link := s.linkOf(in); link != nil {
			_ = link.Send(&ipc.Message{Type: ipc.MsgRetire}, -1)
		}
		s.background.start(func() { s.drainOld(in, deadline) })
	}
	s.opts.Notifier.Ready(status)
	return nil
}

// commitLocked makes slots (generation gen) the current generation:
// balancing moves to it, the previous slots are retired (never respawned),
// old ready workers become Draining, old workers still starting are killed,
// and the oldest generations beyond MaxGenerations are marked for immediate
// drain. It returns the old instances to drain. Call with s.routingMu held.
func (s *Supervisor) commitLocked(gen uint32, slots []*slot) []*instance {
	for _, sl := range s.slots {
		sl.retired = true
	}
	s.slots, s.gen = slots, gen
	var old []*instance
	gens := map[uint32]bool{gen: true}
	for _, in := range s.instances {
		if in.gen == gen {
			continue
		}
		switch in.state {
		case Starting:
			in.proc.Kill() // no sessions yet; its slot is retired
			continue
		case Ready:
			in.state = Draining
		}
		gens[in.gen] = true
		if !in.drainQueued {
			in.drainQueued = true
			old = append(old, in)
		}
	}
	if extra := len(gens) - s.opts.MaxGenerations; extra > 0 {
		all := make([]uint32, 0, len(gens))
		for g := range gens {
			all = append(all, g)
		}
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		force := map[uint32]bool{}
		for _, g := range all[:extra] {
			force[g] = true
			s.log.Warn("reload: too many generations running; draining the oldest now", "generation", g, "max_generations", s.opts.MaxGenerations)
		}
		for _, in := range s.instances {
			if force[in.gen] {
				in.forceDrain = true
			}
		}
	}
	s.rebuildReadyLocked()
	return old
}

// trialSlot starts sl's first worker for Reload, reports on results whether
// it became ready, and then waits for the verdict: on commit it supervises
// the slot like superviseSlot, on rollback it kills the worker and waits for
// its exit.
func (s *Supervisor) trialSlot(sl *slot, tr *trial, results chan<- error) {
	log := s.log.With("slot", sl.id, "generation", sl.gen)
	in, err := s.spawn(sl)
	if err != nil {
		results <- fmt.Errorf("slot %d: %w", sl.id, err)
		return
	}
	p := in.proc
	t := time.NewTimer(s.opts.StartTimeout)
	select {
	case <-in.readyCh:
		results <- nil
	case <-p.done:
		results <- fmt.Errorf("slot %d: worker exited before it was ready: %s", sl.id, p.exitStatus())
	case <-t.C:
		results <- fmt.Errorf("slot %d: worker not ready within the start timeout %v", sl.id, s.opts.StartTimeout)
	case <-s.stopping:
		results <- ErrShuttingDown
	case <-tr.decided: // rolled back for another slot's failure or ctx
		results <- nil
	}
	t.Stop()
	<-tr.decided
	if !tr.commit {
		p.Kill()
		s.awaitExit(sl, in, log)
		return
	}
	s.awaitExit(sl, in, log)
	if !s.waitBackoff(sl, log) {
		return
	}
	s.superviseSlot(sl)
}

// slotRetired reports whether a reload has retired sl.
func (s *Supervisor) slotRetired(sl *slot) bool {
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	return sl.retired
}

// drainOld waits until in (a worker of an old generation) has no sessions,
// connections or hand-offs in flight, or until deadline, or until it is
// marked for immediate drain; then it sends Drain and kills the worker's
// process group if it has not exited ShutdownTimeout later. Shutdown takes
// over when it begins.
func (s *Supervisor) drainOld(in *instance, deadline time.Time) {
	log := s.log.With("slot", in.slot, "instance", in.id, "generation", in.gen)
	s.routingMu.Lock()
	p := in.proc
	s.routingMu.Unlock()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	reason := "deadline"
wait:
	for {
		s.routingMu.Lock()
		idle := in.sessions == 0 && in.conns == 0 && in.Load() == 0
		force := in.forceDrain
		changed := s.watchLocked()
		s.routingMu.Unlock()
		switch {
		case idle:
			reason = "idle"
			break wait
		case force:
			reason = "too many generations"
			break wait
		}
		select {
		case <-changed:
		case <-t.C:
			break wait
		case <-p.done:
			return
		case <-s.stopping:
			return
		}
	}
	log.Info("draining old worker", "reason", reason)
	if !s.sendDrain(in) {
		p.Kill()
		return
	}
	k := time.NewTimer(s.opts.ShutdownTimeout)
	defer k.Stop()
	select {
	case <-p.done:
	case <-s.stopping:
	case <-k.C:
		log.Warn("old worker did not exit in time; killing it", "timeout", s.opts.ShutdownTimeout)
		p.Kill()
	}
}

// sendDrain sends Drain to in with a deadline a little before
// ShutdownTimeout (so that the worker can close what is left and exit by
// itself before it would be killed) and records it, so that the worker
// closing its control link is not taken as a failure. It reports whether
// the message went out.
func (s *Supervisor) sendDrain(in *instance) bool {
	s.routingMu.Lock()
	link := in.link
	in.drainSent = true
	if in.state == Ready {
		in.state = Draining
	}
	s.rebuildReadyLocked()
	s.routingMu.Unlock()
	if link == nil {
		return false
	}
	return s.sendDrainMsg(link)
}

// sendDrainMsg sends Drain, with a deadline a little before
// ShutdownTimeout, without ever waiting on the caller's goroutine (the
// shutdown's kill timer starts only after it): a worker that is behind on
// its control link gets the message from a goroutine that gives up at
// ShutdownTimeout, when the caller's kill timer has fired anyway. It
// reports false when the link is gone, or when the message would need a
// goroutine and shutdown no longer starts them. Side effect on a full link: later
// sends on it fail once that deadline passes.
func (s *Supervisor) sendDrainMsg(link workerLink) bool {
	m := ipc.Message{Type: ipc.MsgDrain, DeadlineMS: uint32(drainDeadline(s.opts.ShutdownTimeout) / time.Millisecond)}
	err := link.TrySend(&m, -1)
	if !errors.Is(err, ipc.ErrWouldBlock) {
		return err == nil
	}
	_ = link.SetWriteDeadline(time.Now().Add(s.opts.ShutdownTimeout))
	return s.background.start(func() { _ = link.Send(&m, -1) })
}

// drainDeadline is the deadline given to a draining worker: the kill
// timeout less a margin of a tenth of it, at most one second.
func drainDeadline(kill time.Duration) time.Duration {
	return kill - min(kill/10, time.Second)
}

// Kill SIGKILLs the process group of every worker now. Use it to force a
// shutdown that is under way (a second SIGTERM); before shutdown the slots
// respawn the workers. Safe for concurrent use.
func (s *Supervisor) Kill() {
	s.routingMu.Lock()
	procs := make([]*process, 0, len(s.instances))
	for _, in := range s.instances {
		procs = append(procs, in.proc)
	}
	s.routingMu.Unlock()
	s.log.Warn("killing every worker now", "count", len(procs))
	for _, p := range procs {
		p.Kill()
	}
}

// watchLocked returns a channel closed at the next routing-state change
// (a worker ready, gone or reporting load). Call with s.routingMu held.
func (s *Supervisor) watchLocked() <-chan struct{} {
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// changedLocked wakes the watchers. Call with s.routingMu held.
func (s *Supervisor) changedLocked() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// statusLineLocked is the STATUS= line for systemd. Call with s.routingMu held.
func (s *Supervisor) statusLineLocked() string {
	var sessions int64
	for _, in := range s.instances {
		sessions += in.sessions
	}
	return fmt.Sprintf("%d/%d workers ready (generation %d), %d sessions", len(s.ready), len(s.slots), s.gen, sessions)
}

// notifyLoop tells systemd READY=1 once every worker of the first
// generation is ready, then updates STATUS= when it changes (at most once
// a second) and sends WATCHDOG=1 every WatchdogInterval, until shutdown.
func (s *Supervisor) notifyLoop(log hclog.Logger) {
	n := s.opts.Notifier
	var wd <-chan time.Time
	if iv := n.WatchdogInterval(); iv > 0 {
		tk := time.NewTicker(iv)
		defer tk.Stop()
		wd = tk.C
		n.Watchdog()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	ready := false
	last := ""
	for {
		s.routingMu.Lock()
		all := len(s.ready) == len(s.slots)
		line := s.statusLineLocked()
		var changed <-chan struct{}
		if !ready {
			changed = s.watchLocked()
		}
		s.routingMu.Unlock()
		if !ready && all {
			ready = true
			last = line
			if err := n.Ready(line); err != nil {
				log.Warn("systemd notify failed", "error", err)
			}
		}
		select {
		case <-changed:
		case <-tick.C:
			if ready && line != last {
				last = line
				n.Status(line)
			}
		case <-wd:
			n.Watchdog()
		case <-s.stopping:
			return
		}
	}
}

// drainSentTo reports whether in was sent Drain.
func (s *Supervisor) drainSentTo(in *instance) bool {
	s.routingMu.Lock()
	defer s.routingMu.Unlock()
	return in.drainSent
}
