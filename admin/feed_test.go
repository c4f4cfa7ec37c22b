package admin

import (
	"fmt"
	"slices"
	"testing"
)

// The room tracker reports each join and leave once, sorted; an unchanged
// socket reports nothing, and a socket not seeded or forgotten is ignored.
func TestRoomTrackerUpdate(t *testing.T) {
	tr := newRoomTracker()
	tr.seed("/", "s1", []string{"s1"})
	if j, l := tr.update("/", "s1", []string{"s1"}); j != nil || l != nil {
		t.Fatalf("unchanged: joined %v left %v", j, l)
	}
	j, l := tr.update("/", "s1", []string{"s1", "b", "a"})
	if !slices.Equal(j, []string{"a", "b"}) || l != nil {
		t.Fatalf("joined a, b: joined %v left %v", j, l)
	}
	if j, l := tr.update("/", "s1", []string{"b", "a", "s1"}); j != nil || l != nil {
		t.Fatalf("same set in another order: joined %v left %v", j, l)
	}
	j, l = tr.update("/", "s1", []string{"s1", "c"})
	if !slices.Equal(j, []string{"c"}) || !slices.Equal(l, []string{"a", "b"}) {
		t.Fatalf("swap a, b for c: joined %v left %v", j, l)
	}
	j, l = tr.update("/", "s1", []string{"s1", "d"}) // as many rooms, one new
	if !slices.Equal(j, []string{"d"}) || !slices.Equal(l, []string{"c"}) {
		t.Fatalf("swap c for d: joined %v left %v", j, l)
	}
	if j, l := tr.update("/chat", "s1", []string{"x"}); j != nil || l != nil {
		t.Fatalf("not seeded in /chat: joined %v left %v", j, l)
	}
	tr.forget("/", "s1")
	if j, l := tr.update("/", "s1", []string{"y"}); j != nil || l != nil || len(tr.rooms) != 0 {
		t.Fatalf("forgotten: joined %v left %v, %d entries", j, l, len(tr.rooms))
	}
}

// An unchanged socket allocates nothing in a scan (10k sockets every
// 500 ms by default).
func TestRoomTrackerUnchangedAllocatesNothing(t *testing.T) {
	tr := newRoomTracker()
	rooms := []string{"s1", "lobby", "game-42"}
	tr.seed("/", "s1", rooms)
	if n := testing.AllocsPerRun(100, func() { tr.update("/", "s1", rooms) }); n != 0 {
		t.Fatalf("%v allocations per unchanged update, want 0", n)
	}
}

func BenchmarkRoomScanUnchanged10k(b *testing.B) {
	tr := newRoomTracker()
	ids := make([]string, 10000)
	rooms := make([][]string, len(ids))
	for i := range ids {
		ids[i] = fmt.Sprintf("sock%05d", i)
		rooms[i] = []string{ids[i], "lobby", fmt.Sprintf("room%d", i%100)}
		tr.seed("/", ids[i], rooms[i])
	}
	b.ResetTimer()
	for range b.N {
		for i, id := range ids {
			tr.update("/", id, rooms[i])
		}
	}
}
