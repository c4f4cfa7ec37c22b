package engineio

import (
	"bytes"
	"errors"
	"testing"
)

func TestDecodePayload(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []packet
		wantErr bool
	}{
		{"one message", "4hello", []packet{{typ: '4', data: []byte("hello")}}, false},
		{"empty message", "4", []packet{{typ: '4', data: []byte{}}}, false},
		{"several", "4a\x1e4b\x1e2", []packet{{typ: '4', data: []byte("a")}, {typ: '4', data: []byte("b")}, {typ: '2', data: []byte{}}}, false},
		{"binary", "bAQIDBA==", []packet{{typ: '4', binary: true, data: []byte{1, 2, 3, 4}}}, false},
		{"binary unpadded", "bAQIDBA", []packet{{typ: '4', binary: true, data: []byte{1, 2, 3, 4}}}, false},
		{"binary empty", "b", []packet{{typ: '4', binary: true, data: []byte{}}}, false},
		{"text then binary", "4hello\x1ebAQIDBA==", []packet{{typ: '4', data: []byte("hello")}, {typ: '4', binary: true, data: []byte{1, 2, 3, 4}}}, false},
		{"pong probe", "3probe", []packet{{typ: '3', data: []byte("probe")}}, false},
		{"close", "1", []packet{{typ: '1', data: []byte{}}}, false},
		{"utf8 message", "4é€😀", []packet{{typ: '4', data: []byte("é€😀")}}, false},
		{"empty body", "", nil, true},
		{"unknown type", "abc", nil, true},
		{"type 7", "7x", nil, true},
		{"trailing separator", "4a\x1e", []packet{{typ: '4', data: []byte("a")}}, true},
		{"leading separator", "\x1e4a", nil, true},
		{"bad base64", "b!!!!", nil, true},
		{"good then bad", "4ok\x1ex", []packet{{typ: '4', data: []byte("ok")}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodePayload([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadPacket) {
				t.Fatalf("err = %v, want ErrBadPacket", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d packets %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.typ != w.typ || g.binary != w.binary || !bytes.Equal(g.data, w.data) {
					t.Errorf("packet %d: got %c %v %q, want %c %v %q", i, g.typ, g.binary, g.data, w.typ, w.binary, w.data)
				}
			}
		})
	}
}

func TestEncodePayload(t *testing.T) {
	tests := []struct {
		name   string
		frames []*Frame
		want   string
	}{
		{"text", []*Frame{NewTextFrame([]byte("hello"))}, "4hello"},
		{"binary", []*Frame{NewBinaryFrame([]byte{1, 2, 3, 4})}, "bAQIDBA=="},
		{"mixed", []*Frame{NewTextFrame([]byte("hello")), NewBinaryFrame([]byte{1, 2, 3, 4})}, "4hello\x1ebAQIDBA=="},
		{"control", []*Frame{framePing, frameNoop, frameClose, framePongProbe}, "2\x1e6\x1e1\x1e3probe"},
		{"empty text", []*Frame{NewTextFrame(nil)}, "4"},
		{"empty binary", []*Frame{NewBinaryFrame(nil)}, "b"},
		{"none", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendPayload(nil, tt.frames))
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if n := encodedPayloadLen(tt.frames); n != len(tt.want) {
				t.Errorf("encodedPayloadLen = %d, want %d", n, len(tt.want))
			}
		})
	}
}

// FuzzDecodePayload checks decodePayload never panics, and that what it
// decodes re-encodes to a payload that decodes to the same packets.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{"4hello", "4a\x1e4b", "bAQIDBA==", "", "\x1e", "b", "2probe\x1e5", "abc", "4\xff\xfe"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := decodePayload(body)
		if err != nil && !errors.Is(err, ErrBadPacket) {
			t.Fatalf("error %v does not wrap ErrBadPacket", err)
		}
		frames := make([]*Frame, len(pkts))
		for i, p := range pkts {
			if p.binary {
				frames[i] = NewBinaryFrame(p.data)
			} else {
				frames[i] = newControlFrame(p.typ, string(p.data))
			}
		}
		if len(frames) == 0 {
			return
		}
		again, err := decodePayload(appendPayload(nil, frames))
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		if len(again) != len(pkts) {
			t.Fatalf("re-decoded %d packets, want %d", len(again), len(pkts))
		}
		for i := range again {
			if again[i].typ != pkts[i].typ || again[i].binary != pkts[i].binary || !bytes.Equal(again[i].data, pkts[i].data) {
				t.Fatalf("packet %d: got %+v, want %+v", i, again[i], pkts[i])
			}
		}
	})
}
