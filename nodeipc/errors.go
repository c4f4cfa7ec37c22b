package nodeipc

import "errors"

// ErrMalformed: a frame that is not a message of the channel's mode (bad
// JSON, a V8 body that does not decode). The frame is skipped; the stream
// stays in step, so the channel may be read on.
var ErrMalformed = errors.New("nodeipc: malformed message")

// ErrUnsupported: a V8 value outside the subset this package decodes
// (Date, Map, Set, BigInt, RegExp, object references ...). The frame is
// skipped; the channel may be read on.
var ErrUnsupported = errors.New("nodeipc: V8 value outside the supported subset")

// ErrFrameTooLarge: a frame longer than MaxFrame. The channel is out of
// step and must be closed.
var ErrFrameTooLarge = errors.New("nodeipc: frame too large")

// ErrUnknownMode: a serialization mode other than "json" and "advanced".
var ErrUnknownMode = errors.New("nodeipc: unknown serialization mode")

// ErrClosed: the channel was closed.
var ErrClosed = errors.New("nodeipc: channel closed")

// Skippable reports whether err from Conn.Read concerns one message only
// (ErrMalformed, ErrUnsupported): the caller may log it and read on.
func Skippable(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnsupported)
}
