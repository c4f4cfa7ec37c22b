package hub

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/stickyd/stickyd/socketio"
)

// The payload of a hub frame (ipc.HubBroadcast, HubRequest, HubResponse)
// that carries a cluster adapter operation: the workers' adapter writes and
// reads it, the hub's Redis bridge transcodes it; the hub's routing never
// looks inside. It starts with one kind byte; integers are little-endian,
// strings u32 length + bytes, lists u32 count + strings.

// Kinds of HubBroadcast payloads (no answer).
const (
	PayloadPacket     byte = 1 + iota // u8 flags, list except, packet (str text, list attachments)
	PayloadJoin                       // list except, list rooms
	PayloadLeave                      // list except, list rooms
	PayloadDisconnect                 // list except, u8 close
	PayloadEmit                       // list args: server-side emit without ack
)

// Kinds of HubRequest payloads; the answers are described at each.
const (
	RequestFetch     byte = 16 + iota // list except → JSON []SocketInfo
	RequestEmit                       // list args → the first ack argument (JSON)
	RequestAckPacket                  // u8 flags, list except, packet → AnswerAckCount, then AnswerAckArgs…
	RequestRooms                      // (nothing) → list rooms
	RequestSockets                    // list except → list socket ids
	RequestRestore                    // str pid, str offset → a session or not found (adapter's answerRestore)
)

// Kinds of the responses to RequestAckPacket.
const (
	AnswerAckCount byte = 1 // u32 number of sockets the packet was sent to
	AnswerAckArgs  byte = 2 // list args of one socket's ack
)

// Flags of PayloadPacket and RequestAckPacket.
const (
	flagVolatile byte = 1 << 0
	flagCompress byte = 1 << 1
)

// AppendString appends s as u32 length + bytes.
func AppendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// AppendList appends l as u32 count + strings.
func AppendList[S ~string | ~[]byte](b []byte, l []S) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(l)))
	for _, s := range l {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// AppendPacket appends p's encoding: str text, list attachments.
func AppendPacket(b []byte, p *socketio.Packet) []byte {
	e := p.Encoded()
	b = AppendString(b, e.Text)
	return AppendList(b, e.Attachments)
}

// packetPayload is the PayloadPacket payload of a broadcast of pkt to
// every socket not in except.
func packetPayload(pkt *socketio.Packet, except []string, flags socketio.BroadcastFlags) []byte {
	b := AppendList([]byte{PayloadPacket, EncodeFlags(flags)}, except)
	return AppendPacket(b, pkt)
}

// EncodeFlags is the flags byte of f (volatile, compress).
func EncodeFlags(f socketio.BroadcastFlags) byte {
	var b byte
	if f.Volatile {
		b |= flagVolatile
	}
	if f.Compress {
		b |= flagCompress
	}
	return b
}

// DecodeFlags is the inverse of EncodeFlags.
func DecodeFlags(b byte) socketio.BroadcastFlags {
	return socketio.BroadcastFlags{Volatile: b&flagVolatile != 0, Compress: b&flagCompress != 0}
}

// PayloadReader decodes a payload; the first short or invalid read sets its
// error (wrapping ErrMalformedPayload) and every later read returns zero
// values. Views it returns ([]byte, json.RawMessage) share the payload's
// memory. Not safe for concurrent use.
type PayloadReader struct {
	b   []byte
	err error
}

// NewPayloadReader reads b.
func NewPayloadReader(b []byte) *PayloadReader { return &PayloadReader{b: b} }

// Fail records a defect the caller found (an unknown kind, a value out of
// range), unless an earlier one is recorded; later reads return zero values.
func (r *PayloadReader) Fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformedPayload, what)
	}
	r.b = nil
}

// U8 reads one byte.
func (r *PayloadReader) U8() byte {
	if r.err != nil || len(r.b) < 1 {
		r.Fail("short payload")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// U32 reads a little-endian u32.
func (r *PayloadReader) U32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.Fail("short payload")
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

// Bytes reads a string as a view of the payload.
func (r *PayloadReader) Bytes() []byte {
	n := r.U32()
	if r.err != nil || uint64(n) > uint64(len(r.b)) {
		r.Fail("string past the end")
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// Str reads a string.
func (r *PayloadReader) Str() string { return string(r.Bytes()) }

// Count reads a list's count, checked against the bytes left.
func (r *PayloadReader) Count() int {
	n := r.U32()
	if r.err != nil || uint64(n)*4 > uint64(len(r.b)) {
		r.Fail("count past the end")
		return 0
	}
	return int(n)
}

// Strs reads a list of strings (nil when empty).
func (r *PayloadReader) Strs() []string {
	n := r.Count()
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, r.Str())
	}
	return out
}

// Raws reads a list of JSON values as views of the payload (nil when empty).
func (r *PayloadReader) Raws() []json.RawMessage {
	n := r.Count()
	if n == 0 {
		return nil
	}
	out := make([]json.RawMessage, 0, n)
	for i := 0; i < n && r.err == nil; i++ {
		out = append(out, json.RawMessage(r.Bytes()))
	}
	return out
}

// Flags reads a flags byte.
func (r *PayloadReader) Flags() socketio.BroadcastFlags { return DecodeFlags(r.U8()) }

// Packet reads a packet written by AppendPacket.
func (r *PayloadReader) Packet() *socketio.Packet {
	text := r.Str()
	n := r.Count()
	var atts [][]byte
	for i := 0; i < n && r.err == nil; i++ {
		atts = append(atts, r.Bytes())
	}
	if r.err != nil {
		return nil
	}
	p, err := socketio.PacketFromEncoded(socketio.EncodedPacket{Text: text, Attachments: atts})
	if err != nil {
		r.err = fmt.Errorf("%w: packet: %w", ErrMalformedPayload, err)
		return nil
	}
	return p
}

// Err is the first defect recorded, or nil.
func (r *PayloadReader) Err() error { return r.err }

// End reports the first error, or one wrapping ErrMalformedPayload for
// trailing bytes.
func (r *PayloadReader) End() error {
	if r.err == nil && len(r.b) != 0 {
		r.Fail(fmt.Sprintf("%d trailing bytes", len(r.b)))
	}
	return r.err
}
