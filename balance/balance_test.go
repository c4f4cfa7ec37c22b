package balance

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

type fakeWorker struct {
	slot int
	load int64
}

func (w fakeWorker) Slot() int   { return w.slot }
func (w fakeWorker) Load() int64 { return w.load }

func workers(loads ...int64) []Worker {
	ws := make([]Worker, len(loads))
	for i, l := range loads {
		ws[i] = fakeWorker{slot: i + 1, load: l}
	}
	return ws
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		wantErr error
	}{
		{"", nil}, {"least-conn", nil}, {"round-robin", nil}, {"random", nil}, {"ip-hash", nil},
		{"leastconn", ErrUnknownPolicy}, {"LEAST-CONN", ErrUnknownPolicy}, {"sticky", ErrUnknownPolicy},
	}
	for _, tt := range tests {
		p, err := New(tt.name)
		if got, want := err, tt.wantErr; !errors.Is(got, want) {
			t.Errorf("New(%q) error = %v, want %v", tt.name, got, want)
		}
		if got, want := p == nil, tt.wantErr != nil; got != want {
			t.Errorf("New(%q) policy nil = %v, want %v", tt.name, got, want)
		}
	}
}

func TestPickEmpty(t *testing.T) {
	for _, name := range Names {
		p, _ := New(name)
		if got, want := p.Pick(nil, netip.MustParseAddr("10.0.0.1")), -1; got != want {
			t.Errorf("%s: Pick(empty) = %d, want %d", name, got, want)
		}
	}
}

func TestLeastConn(t *testing.T) {
	tests := []struct {
		loads []int64
		want  int
	}{
		{[]int64{5}, 0},
		{[]int64{3, 1, 2}, 1},
		{[]int64{0, 7, 7}, 0},
		{[]int64{9, 8, 7, 6, 5, 4}, 5},
	}
	p, _ := New(LeastConn)
	for _, tt := range tests {
		if got, want := p.Pick(workers(tt.loads...), netip.Addr{}), tt.want; got != want {
			t.Errorf("Pick(%v) = %d, want %d", tt.loads, got, want)
		}
	}
}

// TestLeastConnBurst checks that a burst of picks, each counted as load on
// the chosen worker before the next pick (as the primary does under its
// routing lock), spreads evenly, including over ties.
func TestLeastConnBurst(t *testing.T) {
	p, _ := New(LeastConn)
	ws := []*fakeWorker{{1, 0}, {2, 0}, {3, 0}, {4, 0}}
	view := make([]Worker, len(ws))
	for k := 0; k < 400; k++ {
		for i, w := range ws {
			view[i] = *w
		}
		ws[p.Pick(view, netip.Addr{})].load++
	}
	for _, w := range ws {
		if got, want := w.load, int64(100); got != want {
			t.Errorf("slot %d got %d connections, want %d", w.slot, got, want)
		}
	}
}

func TestRoundRobin(t *testing.T) {
	p, _ := New(RoundRobin)
	ws := workers(9, 0, 5)
	var got []int
	for k := 0; k < 7; k++ {
		got = append(got, p.Pick(ws, netip.Addr{}))
	}
	if want := []int{0, 1, 2, 0, 1, 2, 0}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("picks = %v, want %v", got, want)
	}
}

func TestRandomCoversAll(t *testing.T) {
	p, _ := New(Random)
	ws := workers(0, 0, 0, 0)
	seen := make([]int, len(ws))
	for k := 0; k < 4000; k++ {
		i := p.Pick(ws, netip.Addr{})
		if i < 0 || i >= len(ws) {
			t.Fatalf("Pick = %d, out of range", i)
		}
		seen[i]++
	}
	for i, n := range seen {
		if n < 700 { // expected 1000, 10 sigma below is ~730
			t.Errorf("worker %d picked %d times of 4000, want about 1000", i, n)
		}
	}
}

func TestIPHashDeterministic(t *testing.T) {
	p, _ := New(IPHash)
	ws := workers(0, 0, 0, 0)
	for _, s := range []string{"10.0.0.1", "192.168.1.77", "::1", "2001:db8::5"} {
		a := netip.MustParseAddr(s)
		first := p.Pick(ws, a)
		for k := 0; k < 10; k++ {
			if got := p.Pick(ws, a); got != first {
				t.Fatalf("%s: Pick = %d, then %d", s, first, got)
			}
		}
		// The v4-mapped form of an address is the same client.
		if a.Is4() {
			if got := p.Pick(ws, netip.AddrFrom16(a.As16())); got != first {
				t.Errorf("%s: mapped form picks %d, want %d", s, got, first)
			}
		}
	}
}

func clientAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// TestIPHashStability removes one slot and re-adds it: only the clients of
// the removed slot move while it is gone, and every client is back on its
// original slot afterwards. The distribution over slots is near uniform.
func TestIPHashStability(t *testing.T) {
	const clients, n = 20000, 5
	p, _ := New(IPHash)
	all := workers(0, 0, 0, 0, 0)
	slotOf := func(ws []Worker, a netip.Addr) int { return ws[p.Pick(ws, a)].Slot() }

	before := make([]int, clients)
	perSlot := make(map[int]int)
	for i := range before {
		before[i] = slotOf(all, clientAddr(i))
		perSlot[before[i]]++
	}
	for slot := 1; slot <= n; slot++ {
		if got, want := perSlot[slot], clients/n; got < want*85/100 || got > want*115/100 {
			t.Errorf("slot %d has %d clients, want %d ±15%%", slot, got, want)
		}
	}

	const removed = 3
	without := append(append([]Worker{}, all[:removed-1]...), all[removed:]...)
	moved := 0
	for i := range before {
		got := slotOf(without, clientAddr(i))
		if before[i] != removed && got != before[i] {
			t.Fatalf("client %d moved from slot %d to %d though its slot stayed", i, before[i], got)
		}
		if got == removed {
			t.Fatalf("client %d picked removed slot", i)
		}
		if before[i] == removed {
			moved++
		}
	}
	if moved != perSlot[removed] {
		t.Errorf("moved %d clients, want %d", moved, perSlot[removed])
	}

	// Re-added in a different position of the slice: same slot numbers, same picks.
	readded := append([]Worker{all[removed-1]}, without...)
	for i := range before {
		if got, want := slotOf(readded, clientAddr(i)), before[i]; got != want {
			t.Fatalf("client %d on slot %d after re-add, want %d", i, got, want)
		}
	}
}

func BenchmarkPick(b *testing.B) {
	ws := workers(4, 2, 9, 1, 3, 3, 7, 5)
	a := netip.MustParseAddr("203.0.113.9")
	for _, name := range Names {
		p, _ := New(name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Pick(ws, a)
			}
		})
	}
}
