package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
)

// PacketType is the Socket.IO v5 packet type, the first character of an
// encoded packet.
type PacketType byte

// Packet types of protocol v5.
const (
	PacketConnect      PacketType = 0
	PacketDisconnect   PacketType = 1
	PacketEvent        PacketType = 2
	PacketAck          PacketType = 3
	PacketConnectError PacketType = 4
	PacketBinaryEvent  PacketType = 5
	PacketBinaryAck    PacketType = 6
)

func (t PacketType) String() string {
	switch t {
	case PacketConnect:
		return "CONNECT"
	case PacketDisconnect:
		return "DISCONNECT"
	case PacketEvent:
		return "EVENT"
	case PacketAck:
		return "ACK"
	case PacketConnectError:
		return "CONNECT_ERROR"
	case PacketBinaryEvent:
		return "BINARY_EVENT"
	case PacketBinaryAck:
		return "BINARY_ACK"
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

func (t PacketType) binary() bool { return t == PacketBinaryEvent || t == PacketBinaryAck }

// maxAckID is Number.MAX_SAFE_INTEGER: larger ids cannot round-trip through
// a JavaScript client, so the decoder rejects them.
const maxAckID = 1<<53 - 1

// Packet is one Socket.IO packet. It is immutable once built and safe for
// concurrent use: a broadcast shares one Packet (and its cached encoding and
// engine.io frames) among every recipient.
//
// The payload is kept as JSON text exactly as received or encoded, so a
// packet relayed between processes is never re-encoded (see EncodedPacket).
type Packet struct {
	typ         PacketType
	nsp         string
	id          int64  // -1: no ack id
	data        string // JSON payload text; "" when absent
	attachments [][]byte
	event       string // an EVENT's name, once the decoder validated it

	argsSet  bool // args was set while the packet was built (decoder)
	argsOnce sync.Once
	args     []json.RawMessage
	argsErr  error

	enc framesCache
}

// EncodedPacket is the wire form of a Packet: the text frame of the
// Socket.IO encoding and the binary attachments that follow it. It is a
// plain value meant to cross process boundaries (a cluster adapter ships it
// to other workers and rebuilds the Packet with PacketFromEncoded, without
// re-encoding any JSON).
type EncodedPacket struct {
	Text        string   `json:"text"`
	Attachments [][]byte `json:"attachments,omitempty"`
}

// Type reports the packet type (BINARY_EVENT/BINARY_ACK when the packet
// carries attachments).
func (p *Packet) Type() PacketType { return p.typ }

// Namespace reports the packet's namespace ("/" for the main namespace).
func (p *Packet) Namespace() string { return p.nsp }

// ID reports the ack id and whether the packet has one.
func (p *Packet) ID() (uint64, bool) {
	if p.id < 0 {
		return 0, false
	}
	return uint64(p.id), true
}

// Data reports the raw JSON payload ("" when the packet has none).
func (p *Packet) Data() string { return p.data }

// Attachments reports the binary attachments (owned by the packet: do not modify).
func (p *Packet) Attachments() [][]byte { return p.attachments }

// Args splits an EVENT or ACK payload into its top-level elements, exactly
// as they were encoded (placeholders of binary attachments included).
func (p *Packet) Args() ([]json.RawMessage, error) {
	if p.argsSet {
		return p.args, nil
	}
	p.argsOnce.Do(func() {
		if p.data == "" {
			return
		}
		a, ok := splitArray([]byte(p.data))
		if !ok {
			p.argsErr = fmt.Errorf("%w: payload is not an array", ErrParse)
			return
		}
		p.args = a
	})
	return p.args, p.argsErr
}

// Encoded returns the wire form of the packet.
func (p *Packet) Encoded() EncodedPacket {
	return EncodedPacket{Text: string(p.appendText(nil)), Attachments: p.attachments}
}

// WithID returns a copy of p carrying ack id id (the JSON payload is shared,
// not re-encoded). Adapters use it to give a broadcast its per-server ack id.
func (p *Packet) WithID(id uint64) *Packet {
	return &Packet{typ: p.typ, nsp: p.nsp, id: int64(id), data: p.data, attachments: p.attachments}
}

// WithoutID returns a copy of p with no ack id.
func (p *Packet) WithoutID() *Packet {
	return &Packet{typ: p.typ, nsp: p.nsp, id: -1, data: p.data, attachments: p.attachments}
}

// withAppendedArg returns a copy of an EVENT packet whose payload array has
// arg appended (used for recovery offsets). The payload is spliced, not re-encoded.
func (p *Packet) withAppendedArg(arg json.RawMessage) *Packet {
	d := p.data
	if len(d) < 2 || d[len(d)-1] != ']' {
		return p
	}
	var nd string
	if d == "[]" {
		nd = "[" + string(arg) + "]"
	} else {
		nd = d[:len(d)-1] + "," + string(arg) + "]"
	}
	return &Packet{typ: p.typ, nsp: p.nsp, id: p.id, data: nd, attachments: p.attachments}
}

// appendText appends the Socket.IO text encoding of p to b:
// type, [attachments "-"], [nsp ","], [id], [json].
func (p *Packet) appendText(b []byte) []byte {
	b = append(b, byte('0'+p.typ))
	if p.typ.binary() {
		b = strconv.AppendInt(b, int64(len(p.attachments)), 10)
		b = append(b, '-')
	}
	if p.nsp != "" && p.nsp != "/" {
		b = append(b, p.nsp...)
		b = append(b, ',')
	}
	if p.id >= 0 {
		b = strconv.AppendInt(b, p.id, 10)
	}
	return append(b, p.data...)
}

// newAppEventPacket is NewEventPacket for an event the application emits:
// a reserved event name ("connect", "disconnect", …) gets an error wrapping
// ErrReservedEvent.
func newAppEventPacket(nsp, event string, args []any) (*Packet, error) {
	if reservedEvents[event] {
		return nil, fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	return NewEventPacket(nsp, event, args...)
}

// NewEventPacket builds an EVENT (or BINARY_EVENT when an argument is a
// []byte) packet for namespace nsp without an ack id. Arguments are encoded
// as JSON.stringify would; json.RawMessage arguments are passed through;
// top-level []byte arguments become binary attachments.
func NewEventPacket(nsp, event string, args ...any) (*Packet, error) {
	all := make([]any, 0, len(args)+1)
	all = append(all, event)
	all = append(all, args...)
	return newDataPacket(PacketEvent, nsp, -1, all)
}

// newDataPacket encodes args as the payload array of an EVENT or ACK packet.
func newDataPacket(typ PacketType, nsp string, id int64, args []any) (*Packet, error) {
	b, atts, err := appendArgList(make([]byte, 0, 64), args)
	if err != nil {
		return nil, err
	}
	if len(atts) > 0 {
		if typ == PacketEvent {
			typ = PacketBinaryEvent
		} else if typ == PacketAck {
			typ = PacketBinaryAck
		}
	}
	return &Packet{typ: typ, nsp: nsp, id: id, data: string(b), attachments: atts}, nil
}

// appendArgList appends the JSON array of args to b, as newDataPacket
// encodes them, and returns the binary attachments they carry.
func appendArgList(b []byte, args []any) ([]byte, [][]byte, error) {
	start := len(b)
	b = append(b, '[')
	var atts [][]byte
	for i, a := range args {
		if raw, ok := a.(Args); ok && len(raw.JSON) == 0 {
			continue // an empty Args adds nothing
		}
		if len(b) > start+1 {
			b = append(b, ',')
		}
		if raw, ok := a.(Args); ok {
			var err error
			if b, atts, err = appendArgs(b, atts, raw); err != nil {
				return nil, nil, fmt.Errorf("%w: argument %d: %v", ErrBadArgument, i, err)
			}
			continue
		}
		if bin, ok := a.([]byte); ok {
			b = append(b, `{"_placeholder":true,"num":`...)
			b = strconv.AppendInt(b, int64(len(atts)), 10)
			b = append(b, '}')
			atts = append(atts, bin)
			continue
		}
		j, err := marshalJSON(a)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: argument %d: %v", ErrBadArgument, i, err)
		}
		b = append(b, j...)
	}
	return append(b, ']'), atts, nil
}

// newControlPacket builds CONNECT, DISCONNECT or CONNECT_ERROR packets.
func newControlPacket(typ PacketType, nsp string, data any) *Packet {
	p := &Packet{typ: typ, nsp: nsp, id: -1}
	if data != nil {
		j, err := marshalJSON(data)
		if err == nil {
			p.data = string(j)
		}
	}
	return p
}

// appendArgs appends raw's arguments (comma-separated, without brackets) and
// its attachments, renumbering placeholders when attachments precede them.
func appendArgs(b []byte, atts [][]byte, raw Args) ([]byte, [][]byte, error) {
	offset := len(atts)
	for j, arg := range raw.JSON {
		if j > 0 {
			b = append(b, ',')
		}
		if offset > 0 && len(raw.Attachments) > 0 && bytes.Contains(arg, []byte("_placeholder")) {
			v, err := decodeAny(arg)
			if err != nil {
				return nil, nil, err
			}
			v, err = walkPlaceholders(v, len(raw.Attachments), func(i int) any {
				return map[string]any{"_placeholder": true, "num": offset + i}
			})
			if err != nil {
				return nil, nil, err
			}
			if arg, err = marshalJSON(v); err != nil {
				return nil, nil, err
			}
		}
		b = append(b, arg...)
	}
	return b, append(atts, raw.Attachments...), nil
}
