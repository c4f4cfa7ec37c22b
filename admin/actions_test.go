package admin

import (
	"encoding/json"
	"testing"
)

// Bad input: actions with missing or mistyped arguments are rejected
// (then logged and ignored); optional trailing arguments may be null or
// absent.
func TestDecodeArgs(t *testing.T) {
	raw := func(s ...string) []json.RawMessage {
		out := make([]json.RawMessage, len(s))
		for i, v := range s {
			out[i] = json.RawMessage(v)
		}
		return out
	}
	cases := []struct {
		args   []json.RawMessage
		ok     bool
		filter string
	}{
		{raw(`"/"`, `"room"`, `"sid"`), true, "sid"},
		{raw(`"/"`, `"room"`), true, ""},
		{raw(`"/"`, `"room"`, `null`), true, ""},
		{raw(`"/"`), false, ""},
		{raw(), false, ""},
		{raw(`42`, `"room"`), false, ""},
		{raw(`"/"`, `null`), false, ""},
		{raw(`"/"`, `"room"`, `{"x":1}`), false, ""},
	}
	for _, c := range cases {
		var nsp, room, filter string
		ok := decodeArgs(c.args, 2, &nsp, &room, &filter)
		if ok != c.ok || (ok && filter != c.filter) {
			t.Errorf("%s: ok %v filter %q, want %v %q", c.args, ok, filter, c.ok, c.filter)
		}
	}
}
