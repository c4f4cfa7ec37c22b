package adapter

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/stickyd/stickyd/socketio"
)

// The payload of a hub frame (ipc.HubBroadcast, HubRequest, HubResponse) is
// opaque to the hub. The adapter's starts with one kind byte; integers are
// little-endian, strings u32 length + bytes, lists u32 count + strings.

// Kinds of HubBroadcast payloads (no answer).
const (
	opPacket     byte = 1 + iota // u8 flags, list except, packet
	opJoin                       // list except, list rooms
	opLeave                      // list except, list rooms
	opDisconnect                 // list except, u8 close
	opEmit                       // list args: server-side emit without ack
)

// Kinds of HubRequest payloads; the answers are described at each.
const (
	reqFetch     byte = 16 + iota // list except → JSON []SocketInfo
	reqEmit                       // list args → the first ack argument (JSON)
	reqAckPacket                  // u8 flags, list except, packet → ackCount, then ackArgs…
	reqRooms                      // (nothing) → list rooms
	reqSockets                    // list except → list socket ids
	reqRestore                    // str pid, str offset → a session or not found (see answerRestore)
)

// Kinds of the responses to reqAckPacket.
const (
	ackCount byte = 1 // u32 number of sockets the packet was sent to
	ackArgs  byte = 2 // list args of one socket's ack
)

// Flags of opPacket and reqAckPacket.
const (
	flagVolatile byte = 1 << 0
	flagCompress byte = 1 << 1
)

func appendStr(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendList[S ~string | ~[]byte](b []byte, l []S) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(l)))
	for _, s := range l {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

func appendPacket(b []byte, p *socketio.Packet) []byte {
	e := p.Encoded()
	b = appendStr(b, e.Text)
	return appendList(b, e.Attachments)
}

func encodeFlags(f socketio.BroadcastFlags) byte {
	var b byte
	if f.Volatile {
		b |= flagVolatile
	}
	if f.Compress {
		b |= flagCompress
	}
	return b
}

func decodeFlags(b byte) socketio.BroadcastFlags {
	return socketio.BroadcastFlags{Volatile: b&flagVolatile != 0, Compress: b&flagCompress != 0}
}

// reader decodes a payload; the first short or invalid read sets err and
// every later read returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	r.b = nil
}

func (r *reader) u8() byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail("short payload")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.fail("short payload")
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.u32()
	if r.err != nil || uint64(n) > uint64(len(r.b)) {
		r.fail("string past the end")
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) str() string { return string(r.bytes()) }

func (r *reader) count() int {
	n := r.u32()
	if r.err != nil || uint64(n)*4 > uint64(len(r.b)) {
		r.fail("count past the end")
		return 0
	}
	return int(n)
}

func (r *reader) strs() []string {
	n := r.count()
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, r.str())
	}
	return out
}

func (r *reader) raws() []json.RawMessage {
	n := r.count()
	if n == 0 {
		return nil
	}
	out := make([]json.RawMessage, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, json.RawMessage(r.bytes()))
	}
	return out
}

func (r *reader) packet() *socketio.Packet {
	text := r.str()
	n := r.count()
	var atts [][]byte
	for i := 0; i < n && r.err == nil; i++ {
		atts = append(atts, r.bytes())
	}
	if r.err != nil {
		return nil
	}
	p, err := socketio.PacketFromEncoded(socketio.EncodedPacket{Text: text, Attachments: atts})
	if err != nil {
		r.err = fmt.Errorf("%w: packet: %w", ErrMalformed, err)
		return nil
	}
	return p
}

// end reports the first error, or ErrMalformed for trailing bytes.
func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d trailing bytes", len(r.b)))
	}
	return r.err
}
