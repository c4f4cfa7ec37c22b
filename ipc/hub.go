package ipc

import (
	"encoding/binary"
	"fmt"
)

// FrameHello is the type of the first frame on a hub link; its payload is
// the body of a Hello control message (instance, secret, pid).
const FrameHello = byte(MsgHello)

// AppendHelloFrame appends the payload of a FrameHello frame to b.
func AppendHelloFrame(b []byte, instance uint32, secret [32]byte, pid uint32) []byte {
	b = binary.LittleEndian.AppendUint32(b, instance)
	b = append(b, secret[:]...)
	return binary.LittleEndian.AppendUint32(b, pid)
}

// ParseHelloFrame decodes a hub link's first frame. It returns an error
// wrapping ErrMalformed when typ is not FrameHello or the payload is not a
// Hello body.
func ParseHelloFrame(typ byte, payload []byte) (Message, error) {
	if typ != FrameHello {
		return Message{}, fmt.Errorf("%w: first hub frame has type %d, want hello", ErrMalformed, typ)
	}
	if len(payload) != 40 {
		return Message{}, fmt.Errorf("%w: hello frame of %d bytes, want 40", ErrMalformed, len(payload))
	}
	var b [41]byte
	b[0] = byte(MsgHello)
	copy(b[1:], payload)
	return ParseMessage(b[:])
}
