package hub

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/stickyd/stickyd/ipc"
)

// backlog is what queueing one frame for a member asks of its sender.
type backlog struct {
	drained chan struct{} // non-nil: wait for it (within the stall budget)
	cut     bool          // the member passed CutThreshold: cut it
}

// stallEntry is one destination an incoming frame left congested.
type stallEntry struct {
	dst *member
	backlog
}

// stalls collects the congested destinations of one incoming frame, so
// that its sender is stalled once for all of them, with no lock held.
// Callers start it on an array of their stack (stalls(buf[:0])).
type stalls []stallEntry

// add returns s with dst appended when b asks for a wait or a cut.
func (s stalls) add(dst *member, b backlog) stalls {
	if b.drained == nil && !b.cut {
		return s
	}
	return append(s, stallEntry{dst, b})
}

// send queues one frame to dst without blocking, keeping dst's order: into
// dst's sink while it has room and nothing waits in dst's queue, else into
// the queue, drained by a flush goroutine. A volatile frame that does not
// fit in the sink is dropped (and counted). The result says whether the
// caller must stall or cut dst, which it does once it holds no lock.
//
// from is nil, or the member whose frame this relays, called on the
// goroutine handling its frames: the sink then only queues the frame and
// dst joins from's pushes, written out by push (no hand-off to the sink's
// writer goroutine, one write for the frames of one read of from's link).
func (h *Server) send(dst *member, typ byte, p []byte, volatile bool, from *member) backlog {
	q := &dst.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return backlog{}
	}
	h.metrics.frame(typ, len(p), dirOut)
	if len(q.frames) == 0 {
		var err error
		if from == nil {
			err = dst.out.TryWriteFrame(typ, p)
		} else if err = dst.out.QueueFrame(typ, p); err == nil {
			from.notePush(dst)
		}
		if !errors.Is(err, ipc.ErrQueueFull) {
			return backlog{} // queued, or the sink is closing: its member is being removed
		}
	}
	if volatile {
		h.log.Trace("volatile frame dropped for a full queue", "instance", dst.id)
		h.metrics.volatileDropped()
		return backlog{}
	}
	f := make([]byte, 1+len(p))
	f[0] = typ
	copy(f[1:], p)
	q.frames = append(q.frames, f)
	q.bytes += len(f)
	if !q.flushing {
		q.flushing = true
		go h.flush(dst)
	}
	switch {
	case q.bytes > CutThreshold:
		return backlog{cut: true}
	case q.bytes <= StallThreshold:
		return backlog{}
	}
	if q.drained == nil { // a congestion episode starts
		ch := make(chan struct{})
		q.drained, q.slow = ch, false
		q.cutTimer = time.AfterFunc(h.stallTimeout, func() { h.cutIfStillCongested(dst, ch) })
	}
	if q.slow {
		return backlog{}
	}
	return backlog{drained: q.drained}
}

// notePush records that dst's sink holds a frame relayed from m that waits
// for a Push. Called by the goroutine handling m's frames.
func (m *member) notePush(dst *member) {
	if !slices.Contains(m.pushes, dst) {
		m.pushes = append(m.pushes, dst)
	}
}

// flush moves dst's queue into its sink, in order, waiting for room. It
// ends the congestion episode once the queue is back to StallThreshold.
func (h *Server) flush(dst *member) {
	q := &dst.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.frames) > 0 && !q.closed {
		f := q.frames[0]
		q.mu.Unlock()
		err := dst.out.WriteFrame(f[0], f[1:])
		q.mu.Lock()
		if q.closed {
			break
		}
		q.frames[0] = nil
		q.frames = q.frames[1:]
		q.bytes -= len(f)
		if err != nil {
			q.frames, q.bytes = nil, 0
		}
		if q.bytes <= StallThreshold {
			q.endEpisodeLocked()
		}
	}
	q.flushing = false
}

// endEpisodeLocked releases the senders waiting for q and disarms its cut
// timer. Called with q.mu held.
func (q *outQueue) endEpisodeLocked() {
	if q.drained == nil {
		return
	}
	close(q.drained)
	q.drained, q.slow = nil, false
	q.cutTimer.Stop()
	q.cutTimer = nil
}

// close drops everything queued and refuses more; waiting senders are
// released. The flush goroutine ends once its sink is closed.
func (q *outQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.frames, q.bytes = nil, 0
	q.endEpisodeLocked()
}

// markSlow records that a sender's budget ran out waiting for the episode
// that drained belongs to: later senders no longer wait for it.
func (q *outQueue) markSlow(drained chan struct{}) {
	q.mu.Lock()
	if q.drained == drained {
		q.slow = true
	}
	q.mu.Unlock()
}

// stall is the flow policy's second and third steps, for one incoming
// frame, called with no lock held. Destinations past CutThreshold are cut
// at once. Then the sender's link is held back (its frames are not read)
// while the other destinations drain, for at most the stall budget in
// total over all of them; destinations still congested when it runs out
// are marked slow, so that no sender waits for them again until they
// drain. A slow destination is cut when its queue passes CutThreshold or
// stays congested for the stall timeout (cutIfStillCongested), never the
// sender. A wait cycle (two workers each blocked writing to the hub while
// the hub waits for them to read) thus costs one budget, not a link.
//
// from is the member whose frame left s: what it relayed is pushed first,
// since a stalled destination may be waiting for just that.
func (h *Server) stall(from *member, s stalls) {
	if len(s) == 0 {
		return
	}
	h.push(from)
	waiting := false
	for _, e := range s {
		if e.cut {
			h.cut(e.dst, fmt.Errorf("%w: queue over %d bytes", ErrSlowConsumer, CutThreshold))
		} else {
			waiting = true
		}
	}
	if !waiting {
		return
	}
	start := time.Now()
	budget := time.NewTimer(h.stallBudget)
	defer budget.Stop()
	for i, e := range s {
		if e.drained == nil {
			continue
		}
		select {
		case <-e.drained:
		case <-budget.C:
			for _, late := range s[i:] {
				if late.drained != nil {
					late.dst.queue.markSlow(late.drained)
				}
			}
			h.metrics.stalled(time.Since(start))
			h.log.Debug("stall budget spent, destinations marked slow", "budget", h.stallBudget)
			return
		}
	}
	h.metrics.stalled(time.Since(start))
}

// cutIfStillCongested cuts dst when the congestion episode drained belongs
// to is still on: its queue stayed over StallThreshold for the stall
// timeout. Runs on dst's cut timer.
func (h *Server) cutIfStillCongested(dst *member, drained chan struct{}) {
	q := &dst.queue
	q.mu.Lock()
	still := q.drained == drained && !q.closed
	q.mu.Unlock()
	if still {
		h.cut(dst, fmt.Errorf("%w: queue over %d bytes for %v", ErrSlowConsumer, StallThreshold, h.stallTimeout))
	}
}

// cut removes a slow consumer: its link is closed (the primary restarts a
// worker whose link ends), the other members are told at once.
func (h *Server) cut(dst *member, reason error) {
	if h.remove(dst) {
		h.metrics.linkCut()
		h.log.Warn("hub link cut", "instance", dst.id, "error", reason)
	}
}
