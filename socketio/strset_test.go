package socketio

import (
	"fmt"
	"slices"
	"testing"
)

// A strSet keeps a slice up to smallSetMax members, a map beyond, and the
// same members either way.
func TestStrSet(t *testing.T) {
	var s strSet
	want := map[string]bool{}
	check := func(step string) {
		t.Helper()
		got := s.appendTo(nil)
		var viaAll []string
		for v := range s.all {
			viaAll = append(viaAll, v)
		}
		slices.Sort(got)
		slices.Sort(viaAll)
		var w []string
		for v := range want {
			w = append(w, v)
		}
		slices.Sort(w)
		if !slices.Equal(got, w) || !slices.Equal(viaAll, w) || s.len() != len(w) {
			t.Fatalf("%s: appendTo %v, all %v, len %d, want %v", step, got, viaAll, s.len(), w)
		}
	}
	s.add("a")
	s.add("a")
	want["a"] = true
	check("one")
	if cap(s.small) != 1 || s.big != nil {
		t.Fatalf("a set of one holds cap %d, map %v", cap(s.small), s.big != nil)
	}
	for i := range smallSetMax - 1 {
		s.add(fmt.Sprint(i))
		want[fmt.Sprint(i)] = true
	}
	check("full slice")
	if s.big != nil || !slices.Equal(s.small[:3], []string{"a", "0", "1"}) {
		t.Fatalf("slice %v (map %v), want insertion order", s.small, s.big != nil)
	}
	s.del("0")
	delete(want, "0")
	check("deleted from slice")
	s.add("x")
	s.add("y")
	want["x"], want["y"] = true, true
	check("grown to a map")
	if s.big == nil || s.small != nil {
		t.Fatalf("%d members still in a slice", s.len())
	}
	s.del("a")
	s.del("missing")
	delete(want, "a")
	check("deleted from map")
}

// A socket in its own room and one shared room holds small sets in the
// adapter, and leaving empties them.
func TestAdapterSmallSets(t *testing.T) {
	a := &InMemoryAdapter{rooms: map[string]strSet{}, sids: map[string]strSet{}}
	a.AddAll("s1", []string{"s1", "lobby"})
	a.AddAll("s2", []string{"s2", "lobby"})
	if got := a.SocketRooms("s1"); !slices.Equal(got, []string{"s1", "lobby"}) {
		t.Fatalf("rooms of s1 %v", got)
	}
	if got := a.Sockets([]string{"lobby"}); len(got) != 2 || a.rooms["s1"].big != nil || a.sids["s1"].big != nil {
		t.Fatalf("lobby %v, sets %+v %+v", got, a.rooms["s1"], a.sids["s1"])
	}
	got := a.targets(BroadcastOptions{Rooms: []string{"lobby", "s1"}, Except: []string{"s2"}})
	if !slices.Equal(got, []string{"s1"}) {
		t.Fatalf("lobby and s1 except s2: %v", got)
	}
	a.Del("s1", "lobby")
	a.DelAll("s2")
	if _, ok := a.rooms["s2"]; ok || len(a.sids) != 1 || len(a.Sockets([]string{"lobby"})) != 0 {
		t.Fatalf("after leaving: rooms %v sids %v", a.rooms, a.sids)
	}
}
