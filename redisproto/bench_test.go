package redisproto

import (
	"testing"

	"github.com/stickyd/stickyd/socketio"
)

func benchPacket(b *testing.B) *socketio.Packet {
	p, err := socketio.NewEventPacket("/", "bcast", map[string]any{"seq": 12345, "ts": 1700000000123, "payload": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func BenchmarkEncodeBroadcast(b *testing.B) {
	p := benchPacket(b)
	opts := socketio.BroadcastOptions{Rooms: []string{"room-3"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeBroadcast("AbCdEf", p, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBroadcast(b *testing.B) {
	msg, err := EncodeBroadcast("AbCdEf", benchPacket(b), socketio.BroadcastOptions{Rooms: []string{"room-3"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeBroadcast(msg, "/"); err != nil {
			b.Fatal(err)
		}
	}
}
