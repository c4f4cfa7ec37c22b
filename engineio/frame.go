package engineio

import (
	"encoding/base64"
	"sync"
)

// Frame is one Engine.IO packet (usually a "message", type 4) encoded once
// and sent to many sockets. A websocket sends its bytes as they are, after
// a frame header of a few bytes per socket (a payload of more than copyMax
// bytes is never copied; a smaller one is copied next to its header, see
// wsBatch); polling lazily caches its record. So a broadcast encodes
// once whatever the number of receivers. A Frame is immutable after
// creation and safe for concurrent use; the caller must not modify the
// bytes it handed over.
type Frame struct {
	typ    byte
	binary bool
	data   []byte

	recOnce sync.Once
	rec     []byte // polling record: type + text, or "b" + base64
}

// NewTextFrame returns a message frame carrying text. It takes ownership of
// text: the caller must not modify it afterwards.
func NewTextFrame(text []byte) *Frame {
	return &Frame{typ: typeMessage, data: text}
}

// NewBinaryFrame returns a message frame carrying raw bytes (a websocket
// binary message, or "b"+base64 over polling). It takes ownership of data.
func NewBinaryFrame(data []byte) *Frame {
	return &Frame{typ: typeMessage, binary: true, data: data}
}

// newControlFrame returns a frame of a non-message packet type with optional
// text data (open, ping, pong, noop, close).
func newControlFrame(typ byte, data string) *Frame {
	return &Frame{typ: typ, data: []byte(data)}
}

// Shared control frames; their caches are filled once per process.
var (
	framePing       = newControlFrame(typePing, "")
	frameNoop       = newControlFrame(typeNoop, "")
	frameClose      = newControlFrame(typeClose, "")
	framePongProbe  = newControlFrame(typePong, "probe")
	frameClosePkt   = []*Frame{frameClose}
	frameNoopPacket = []*Frame{frameNoop}
)

// size is the number of bytes f counts against Options.MaxBufferedBytes.
func (f *Frame) size() int64 { return int64(len(f.data)) + 1 }

// pollingRecord returns f's polling encoding (cached; do not modify).
func (f *Frame) pollingRecord() []byte {
	f.recOnce.Do(func() {
		if f.binary {
			rec := make([]byte, 1+base64.StdEncoding.EncodedLen(len(f.data)))
			rec[0] = 'b'
			base64.StdEncoding.Encode(rec[1:], f.data)
			f.rec = rec
			return
		}
		rec := make([]byte, 1+len(f.data))
		rec[0] = f.typ
		copy(rec[1:], f.data)
		f.rec = rec
	})
	return f.rec
}
