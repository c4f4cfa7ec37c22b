package ipc

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestSIDRoundTrip(t *testing.T) {
	var r [17]byte
	for i := range r {
		r[i] = 0xff
	}
	tests := []struct {
		instance uint32
		random   [17]byte
	}{{0, [17]byte{}}, {1, r}, {0xffffffff, r}, {0x01020304, [17]byte{0xab}}, {1 << 31, [17]byte{}}}
	for _, tt := range tests {
		sid := EncodeSID(tt.instance, tt.random)
		if got, want := len(sid), SIDLen; got != want {
			t.Fatalf("len %d, want %d", got, want)
		}
		raw, err := base64.RawURLEncoding.DecodeString(sid)
		if err != nil || len(raw) != 21 || string(raw[4:]) != string(tt.random[:]) {
			t.Fatalf("sid %q decodes to % x, %v", sid, raw, err)
		}
		got, ok := SIDInstance(sid)
		if !ok || got != tt.instance {
			t.Fatalf("SIDInstance(%q) = %d, %v; want %d, true", sid, got, ok, tt.instance)
		}
	}
}

func TestNewSID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		sid, err := NewSID(42)
		if err != nil {
			t.Fatal(err)
		}
		if seen[sid] {
			t.Fatalf("duplicate sid %q", sid)
		}
		seen[sid] = true
		if got, ok := SIDInstance(sid); !ok || got != 42 {
			t.Fatalf("SIDInstance(%q) = %d, %v", sid, got, ok)
		}
	}
}

func TestSIDInstanceRejects(t *testing.T) {
	good := EncodeSID(3, [17]byte{1})
	tests := []struct {
		name string
		sid  string
	}{
		{"empty", ""},
		{"js engine.io sid", "AAAAAAAAAAAAAAAAAAAA"},
		{"too long", good + "A"},
		{"too short", good[:27]},
		{"std alphabet +", "+" + good[1:]},
		{"std alphabet /", good[:27] + "/"},
		{"padding", good[:27] + "="},
		{"space", strings.Replace(good, good[10:11], " ", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := SIDInstance(tt.sid); ok {
				t.Fatalf("SIDInstance(%q) = %d, true; want false", tt.sid, got)
			}
		})
	}
}

func BenchmarkSIDInstance(b *testing.B) {
	sid, _ := NewSID(77)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := SIDInstance(sid); !ok {
			b.Fatal("bad")
		}
	}
}
