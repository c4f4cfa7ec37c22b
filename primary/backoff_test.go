package primary

import (
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestBackoffSchedule(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	b := newBackoff(100*time.Millisecond, 30*time.Second, 10*time.Second, clk.now)
	ms := time.Millisecond
	// Crash loop: never ready. 1.5x growth, capped at 30 s.
	want := []time.Duration{100 * ms, 150 * ms, 225 * ms, 337500 * time.Microsecond, 506250 * time.Microsecond}
	for i, w := range want {
		if got := b.exited(); got != w {
			t.Fatalf("exit %d: delay %v, want %v", i, got, w)
		}
	}
	for i := 0; i < 20; i++ {
		b.exited()
	}
	if got, want := b.exited(), 30*time.Second; got != want {
		t.Fatalf("after many exits delay %v, want cap %v", got, want)
	}
	// Ready but short-lived: no reset.
	b.ready()
	clk.advance(9 * time.Second)
	if got, want := b.exited(), 30*time.Second; got != want {
		t.Fatalf("after 9 s healthy delay %v, want %v", got, want)
	}
	// Healthy for 10 s: schedule starts over.
	b.ready()
	clk.advance(10 * time.Second)
	if got, want := b.exited(), 100*ms; got != want {
		t.Fatalf("after 10 s healthy delay %v, want %v", got, want)
	}
	if got, want := b.exited(), 150*ms; got != want {
		t.Fatalf("next delay %v, want %v", got, want)
	}
	// Readiness is per worker: a later exit without ready does not reset.
	clk.advance(time.Hour)
	if got, want := b.exited(), 225*ms; got != want {
		t.Fatalf("exit without ready delay %v, want %v", got, want)
	}
}
