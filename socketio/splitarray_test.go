package socketio

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestSplitArray(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		ok   bool
	}{
		{`[]`, []string{}, true},
		{` [ ] `, []string{}, true},
		{`["a",1,{"b":[2,"]"]},null]`, []string{`"a"`, `1`, `{"b":[2,"]"]}`, `null`}, true},
		{`[ "x\"],[" , [ [ ] ] ]`, []string{`"x\"],["`, `[ [ ] ]`}, true},
		{`{"a":1}`, nil, false},
		{`"str"`, nil, false},
		{`[1,]`, nil, false},
		{`[1`, nil, false},
		{``, nil, false},
	}
	for _, tt := range tests {
		got, ok := splitArray([]byte(tt.in))
		if ok != tt.ok {
			t.Errorf("%q: ok = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		var gs []string
		if got != nil {
			gs = []string{}
		}
		for _, g := range got {
			gs = append(gs, string(g))
		}
		if !reflect.DeepEqual(gs, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.in, gs, tt.want)
		}
	}
}

// FuzzSplitArray: splitArray agrees with json.Unmarshal into
// []json.RawMessage on every input (elements compared after compaction).
func FuzzSplitArray(f *testing.F) {
	for _, s := range []string{`[]`, `["a",{"b":[1,"]\\""]}]`, `[1, 2 ,3]`, `{}`, `[`, `["\u005d"]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want []json.RawMessage
		wantErr := json.Unmarshal(b, &want)
		got, ok := splitArray(b)
		if ok != (wantErr == nil) {
			t.Fatalf("%q: ok = %v, json.Unmarshal err = %v", b, ok, wantErr)
		}
		if !ok {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d elements, want %d", b, len(got), len(want))
		}
		for i := range got {
			if string(got[i]) != string(want[i]) {
				t.Fatalf("%q: element %d = %q, want %q", b, i, got[i], want[i])
			}
		}
	})
}
