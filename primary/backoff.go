package primary

import "time"

// backoff computes the delay before a slot's worker is respawned: it starts
// at initial, grows by factor after each exit up to max, and starts over
// when the exiting worker had been ready for at least healthy. It is not
// safe for concurrent use (each slot owns one).
type backoff struct {
	initial, max, healthy time.Duration
	factor                float64
	now                   func() time.Time

	next    time.Duration
	readyAt time.Time
}

func newBackoff(initial, max, healthy time.Duration, now func() time.Time) *backoff {
	if now == nil {
		now = time.Now
	}
	return &backoff{initial: initial, max: max, healthy: healthy, factor: 1.5, now: now, next: initial}
}

// ready records that the current worker became ready.
func (b *backoff) ready() { b.readyAt = b.now() }

// exited returns the delay before the next spawn, given that the current
// worker just exited, and advances the schedule.
func (b *backoff) exited() time.Duration {
	if !b.readyAt.IsZero() && b.now().Sub(b.readyAt) >= b.healthy {
		b.next = b.initial
	}
	b.readyAt = time.Time{}
	d := b.next
	b.next = min(time.Duration(float64(b.next)*b.factor), b.max)
	return d
}
