package socketio

import (
	"sync"

	"github.com/stickyd/stickyd/engineio"
)

// framesCache holds the engine.io frames of a packet, built once and shared
// by every recipient of a broadcast (a websocket writes an engineio.Frame's
// bytes as they are; polling caches its encoding).
type framesCache struct {
	once   sync.Once
	frames []*engineio.Frame
}

// testHookEncode, when set by a test, is called each time a packet is
// encoded into frames (never set outside tests).
var testHookEncode func()

// frames returns the engine.io frames of p: one text frame and one binary
// frame per attachment, built on the first call and shared by every later one.
func (p *Packet) frames() []*engineio.Frame {
	p.enc.once.Do(func() {
		if testHookEncode != nil {
			testHookEncode()
		}
		fs := make([]*engineio.Frame, 0, 1+len(p.attachments))
		fs = append(fs, engineio.NewTextFrame(p.appendText(make([]byte, 0, 16+len(p.nsp)+len(p.data)))))
		for _, a := range p.attachments {
			fs = append(fs, engineio.NewBinaryFrame(a))
		}
		p.enc.frames = fs
	})
	return p.enc.frames
}
