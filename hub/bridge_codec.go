package hub

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/socketio"
)

// The bridge speaks the payload format of package adapter (the workers'
// side of the hub; see adapter/codec.go): a kind byte, little-endian u32
// integers, strings as u32 length + bytes, lists as u32 count + strings.
// The kinds below mirror the adapter's; a change there must be made here.
const (
	payloadPacket     byte = 1 // u8 flags, list except, packet (str text, list attachments)
	payloadJoin       byte = 2 // list except, list rooms
	payloadLeave      byte = 3 // list except, list rooms
	payloadDisconnect byte = 4 // list except, u8 close
	payloadEmit       byte = 5 // list args

	requestFetch     byte = 16 // list except → JSON []SocketInfo
	requestEmit      byte = 17 // list args → first ack argument (JSON)
	requestAckPacket byte = 18 // u8 flags, list except, packet → count, then acks
	requestRooms     byte = 19 // → list rooms
	requestSockets   byte = 20 // list except → list socket ids
	requestRestore   byte = 21 // str pid, str offset → session (not across hosts)

	answerAckCount byte = 1 // u32 sockets reached
	answerAckArgs  byte = 2 // list args of one ack

	payloadVolatile byte = 1 << 0
	payloadCompress byte = 1 << 1
)

// payload decodes an adapter payload; the first defect sets err and every
// later read returns zero values.
type payload struct {
	b   []byte
	err error
}

func (p *payload) failed(what string) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: adapter payload: %s", ipc.ErrMalformed, what)
	}
	p.b = nil
}

func (p *payload) byte() byte {
	if len(p.b) < 1 {
		p.failed("short")
		return 0
	}
	v := p.b[0]
	p.b = p.b[1:]
	return v
}

func (p *payload) uint32() uint32 {
	if len(p.b) < 4 {
		p.failed("short")
		return 0
	}
	v := binary.LittleEndian.Uint32(p.b)
	p.b = p.b[4:]
	return v
}

func (p *payload) blob() []byte {
	n := p.uint32()
	if uint64(n) > uint64(len(p.b)) {
		p.failed("string past the end")
		return nil
	}
	v := p.b[:n:n]
	p.b = p.b[n:]
	return v
}

func (p *payload) blobs() [][]byte {
	n := p.uint32()
	if uint64(n)*4 > uint64(len(p.b)) {
		p.failed("list past the end")
		return nil
	}
	var out [][]byte
	for i := uint32(0); i < n && p.err == nil; i++ {
		out = append(out, p.blob())
	}
	return out
}

func (p *payload) strings() []string {
	var out []string
	for _, s := range p.blobs() {
		out = append(out, string(s))
	}
	return out
}

func (p *payload) jsonArgs() []json.RawMessage {
	var out []json.RawMessage
	for _, s := range p.blobs() {
		out = append(out, json.RawMessage(s))
	}
	return out
}

func (p *payload) packet() *socketio.Packet {
	text := string(p.blob())
	attachments := p.blobs()
	if p.err != nil {
		return nil
	}
	pkt, err := socketio.PacketFromEncoded(socketio.EncodedPacket{Text: text, Attachments: attachments})
	if err != nil {
		p.err = fmt.Errorf("%w: adapter payload: packet: %w", ipc.ErrMalformed, err)
	}
	return pkt
}

func (p *payload) flags() socketio.BroadcastFlags {
	f := p.byte()
	return socketio.BroadcastFlags{Volatile: f&payloadVolatile != 0, Compress: f&payloadCompress != 0}
}

// done reports the first defect, or trailing bytes.
func (p *payload) done() error {
	if p.err == nil && len(p.b) != 0 {
		p.failed(fmt.Sprintf("%d trailing bytes", len(p.b)))
	}
	return p.err
}

func putString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func putList[S ~string | ~[]byte](b []byte, l []S) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(l)))
	for _, s := range l {
		b = putString(b, string(s))
	}
	return b
}

func putFlags(b []byte, f socketio.BroadcastFlags) []byte {
	var v byte
	if f.Volatile {
		v |= payloadVolatile
	}
	if f.Compress {
		v |= payloadCompress
	}
	return append(b, v)
}

// packetPayload is the payload of a broadcast of pkt to every socket not
// in except.
func packetPayload(pkt *socketio.Packet, except []string, flags socketio.BroadcastFlags) []byte {
	b := putFlags([]byte{payloadPacket}, flags)
	b = putList(b, except)
	e := pkt.Encoded()
	b = putString(b, e.Text)
	return putList(b, e.Attachments)
}
