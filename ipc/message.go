package ipc

import (
	"encoding/binary"
	"fmt"
)

// MaxControlMessage is the largest control-link message, in bytes, type byte included.
const MaxControlMessage = 64 << 10

// MsgType is the first byte of a control-link message.
type MsgType uint8

// Control-link message types; see docs/architecture.md for the bodies.
const (
	MsgHello    MsgType = 1 + iota // worker → primary: Instance, Secret, PID
	MsgWelcome                     // primary → worker: Instance, Generation
	MsgConn                        // primary → worker: ConnID, Addr, Prefix + client fd
	MsgHandBack                    // worker → primary: ConnID, Prefix + client fd
	MsgReady                       // worker → primary: no body
	MsgLoad                        // worker → primary: Sessions, Conns, Received
	MsgDrain                       // primary → worker: DeadlineMS
	MsgRetire                      // primary → worker: no body; a newer generation serves new sessions
)

var msgTypeNames = [...]string{"", "hello", "welcome", "conn", "handback", "ready", "load", "drain", "retire"}

// String returns the lower-case name of t, or "MsgType(n)" when unknown.
func (t MsgType) String() string {
	if t >= MsgHello && t <= MsgRetire {
		return msgTypeNames[t]
	}
	return fmt.Sprintf("MsgType(%d)", uint8(t))
}

// Message is one control-link message. Only the fields of its Type are
// encoded; the others are ignored by AppendBinary and zero after ParseMessage.
type Message struct {
	Type MsgType

	Instance uint32   // Hello, Welcome
	Secret   [32]byte // Hello
	PID      uint32   // Hello

	Generation uint32 // Welcome

	ConnID uint64 // Conn, HandBack
	Addr   string // Conn: client address "ip:port"
	Prefix []byte // Conn, HandBack: bytes already consumed from the stream

	Sessions uint32 // Load: live sessions
	Conns    uint32 // Load: live connections
	Received uint64 // Load: connections received since start

	DeadlineMS uint32 // Drain: milliseconds the worker has to drain
}

// AppendBinary appends the wire encoding of m to b and returns the extended
// slice. It fails with ErrMalformed for an unknown type and with
// ErrFrameTooLarge when the encoding would exceed MaxControlMessage (b is
// then returned unchanged).
func (m *Message) AppendBinary(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, byte(m.Type))
	le := binary.LittleEndian
	switch m.Type {
	case MsgHello:
		b = le.AppendUint32(b, m.Instance)
		b = append(b, m.Secret[:]...)
		b = le.AppendUint32(b, m.PID)
	case MsgWelcome:
		b = le.AppendUint32(b, m.Instance)
		b = le.AppendUint32(b, m.Generation)
	case MsgConn:
		if 1+8+4+len(m.Addr)+4+len(m.Prefix) > MaxControlMessage {
			return b[:start], fmt.Errorf("%w: %s message of %d+%d bytes", ErrFrameTooLarge, m.Type, len(m.Addr), len(m.Prefix))
		}
		b = le.AppendUint64(b, m.ConnID)
		b = appendString(b, m.Addr)
		b = appendString(b, m.Prefix)
	case MsgHandBack:
		if 1+8+4+len(m.Prefix) > MaxControlMessage {
			return b[:start], fmt.Errorf("%w: %s message with %d-byte prefix", ErrFrameTooLarge, m.Type, len(m.Prefix))
		}
		b = le.AppendUint64(b, m.ConnID)
		b = appendString(b, m.Prefix)
	case MsgReady:
	case MsgLoad:
		b = le.AppendUint32(b, m.Sessions)
		b = le.AppendUint32(b, m.Conns)
		b = le.AppendUint64(b, m.Received)
	case MsgDrain:
		b = le.AppendUint32(b, m.DeadlineMS)
	case MsgRetire:
	default:
		return b[:start], fmt.Errorf("%w: unknown type %d", ErrMalformed, uint8(m.Type))
	}
	return b, nil
}

// MaxHandBackPrefix is the largest Prefix a HandBack message can carry.
const MaxHandBackPrefix = MaxControlMessage - (1 + 8 + 4)

func appendString[S ~string | ~[]byte](b []byte, s S) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// ParseMessage decodes one control-link message. It is strict: an empty or
// oversized input, an unknown type, a short body, a string length past the
// end, or trailing bytes give an error wrapping ErrMalformed. The returned
// Message does not alias b.
func ParseMessage(b []byte) (Message, error) {
	var m Message
	if len(b) == 0 {
		return m, fmt.Errorf("%w: empty message", ErrMalformed)
	}
	if len(b) > MaxControlMessage {
		return m, fmt.Errorf("%w: %d bytes exceeds %d", ErrMalformed, len(b), MaxControlMessage)
	}
	m.Type = MsgType(b[0])
	d := decoder{b: b[1:]}
	switch m.Type {
	case MsgHello:
		m.Instance = d.u32()
		copy(m.Secret[:], d.bytes(32))
		m.PID = d.u32()
	case MsgWelcome:
		m.Instance = d.u32()
		m.Generation = d.u32()
	case MsgConn:
		m.ConnID = d.u64()
		m.Addr = string(d.str())
		m.Prefix = cloneBytes(d.str())
	case MsgHandBack:
		m.ConnID = d.u64()
		m.Prefix = cloneBytes(d.str())
	case MsgReady:
	case MsgLoad:
		m.Sessions = d.u32()
		m.Conns = d.u32()
		m.Received = d.u64()
	case MsgDrain:
		m.DeadlineMS = d.u32()
	case MsgRetire:
	default:
		return Message{}, fmt.Errorf("%w: unknown type %d", ErrMalformed, b[0])
	}
	if d.short {
		return Message{}, fmt.Errorf("%w: %s message truncated (%d bytes)", ErrMalformed, m.Type, len(b))
	}
	if len(d.b) != 0 {
		return Message{}, fmt.Errorf("%w: %d trailing bytes after %s message", ErrMalformed, len(d.b), m.Type)
	}
	return m, nil
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// decoder reads little-endian fields; after the first short read every read
// returns zero values and short stays set.
type decoder struct {
	b     []byte
	short bool
}

func (d *decoder) bytes(n int) []byte {
	if d.short || n < 0 || len(d.b) < n {
		d.short = true
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32() uint32 {
	if v := d.bytes(4); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.bytes(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) str() []byte {
	n := d.u32()
	if d.short || uint64(n) > uint64(len(d.b)) {
		d.short = true
		return nil
	}
	return d.bytes(int(n))
}
