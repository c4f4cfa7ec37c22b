package socketio

import (
	"encoding/json"
	"testing"
)

// Args pass received arguments back out unchanged, binary included, with
// placeholders renumbered after attachments that precede them.
func TestNewDataPacketArgs(t *testing.T) {
	raw := Args{
		JSON:        []json.RawMessage{json.RawMessage(`{"b":1,"a":{"_placeholder":true,"num":0}}`), json.RawMessage(`"x"`)},
		Attachments: [][]byte{{1, 2, 3}},
	}
	tests := []struct {
		name     string
		args     []any
		wantText string
		wantAtts int
	}{
		{"alone", []any{"ev", raw}, `51-["ev",{"b":1,"a":{"_placeholder":true,"num":0}},"x"]`, 1},
		{"after bytes", []any{"ev", []byte{9}, raw}, `52-["ev",{"_placeholder":true,"num":0},{"a":{"_placeholder":true,"num":1},"b":1},"x"]`, 2},
		{"empty", []any{"ev", Args{}, 1}, `2["ev",1]`, 0},
		{"empty first", []any{Args{}, "ev"}, `2["ev"]`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := newDataPacket(PacketEvent, "/", -1, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			e := p.Encoded()
			if got := e.Text; got != tt.wantText {
				t.Errorf("text = %s, want %s", got, tt.wantText)
			}
			if got := len(e.Attachments); got != tt.wantAtts {
				t.Errorf("attachments = %d, want %d", got, tt.wantAtts)
			}
		})
	}
}
