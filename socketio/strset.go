package socketio

import "slices"

// smallSetMax is the most members a strSet keeps in its slice; beyond, it
// switches to a map.
const smallSetMax = 8

// strSet is a set of strings sized for the adapter's common case: a
// socket's rooms (its own id, a room or two) and a room of one socket (its
// own id). Up to smallSetMax members it is a slice (16 bytes a member, in
// insertion order); beyond, a map (about 100 bytes a member at small sizes,
// but constant-time). A map, once made, stays. The zero value is empty. It
// is a value: a mutating method's caller stores the set back where it keeps
// it. Not safe for concurrent use (the adapter's lock guards it).
type strSet struct {
	small []string
	big   map[string]struct{}
}

// len is the number of members.
func (s *strSet) len() int {
	if s.big != nil {
		return len(s.big)
	}
	return len(s.small)
}

// add makes v a member.
func (s *strSet) add(v string) {
	switch {
	case s.big != nil:
		s.big[v] = struct{}{}
	case slices.Contains(s.small, v):
	case len(s.small) < smallSetMax:
		if cap(s.small) == 0 {
			s.small = make([]string, 0, 1) // the common set of one: 16 bytes
		}
		s.small = append(s.small, v)
	default:
		s.big = make(map[string]struct{}, len(s.small)+1)
		for _, m := range s.small {
			s.big[m] = struct{}{}
		}
		s.big[v] = struct{}{}
		s.small = nil
	}
}

// del removes v (the slice keeps its order).
func (s *strSet) del(v string) {
	if s.big != nil {
		delete(s.big, v)
		return
	}
	if i := slices.Index(s.small, v); i >= 0 {
		s.small = slices.Delete(s.small, i, i+1)
	}
}

// all yields the members (the set must not change meanwhile).
func (s *strSet) all(yield func(string) bool) {
	if s.big != nil {
		for v := range s.big {
			if !yield(v) {
				return
			}
		}
		return
	}
	for _, v := range s.small {
		if !yield(v) {
			return
		}
	}
}

// appendTo appends the members to out.
func (s *strSet) appendTo(out []string) []string {
	if s.big == nil {
		return append(out, s.small...)
	}
	for v := range s.big {
		out = append(out, v)
	}
	return out
}
