package redisproto

import "errors"

var (
	// ErrMalformed is wrapped by every error about a message that is not
	// valid msgpack or JSON, or does not have the shape of its kind.
	ErrMalformed = errors.New("redisproto: malformed message")
	// ErrTooDeep is returned for values nested deeper than MaxDepth.
	ErrTooDeep = errors.New("redisproto: value nested too deep")
	// ErrUnknownType is returned for a request or response type outside 0 to 9.
	ErrUnknownType = errors.New("redisproto: unknown request type")
	// ErrForeignNamespace is returned by DecodeBroadcast for a packet of
	// another namespace than the one asked for.
	ErrForeignNamespace = errors.New("redisproto: packet of another namespace")
	// ErrNotEvent is returned for a broadcast packet that is not an EVENT.
	ErrNotEvent = errors.New("redisproto: packet is not an event")
	// ErrUnsupported is returned when a value cannot be written in the
	// wire format (for instance an ACK packet given to EncodeBroadcast).
	ErrUnsupported = errors.New("redisproto: value not supported by the wire format")
)
