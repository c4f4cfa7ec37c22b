package engineio

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// Websocket opcodes of the frames a server writes (RFC 6455 §5.2).
const (
	opText   = 1
	opBinary = 2
	opClose  = 8
	opPong   = 10
)

// copyMax is the largest payload that add copies into hdr, right after its
// frame header, so that a run of small frames is one contiguous buffer: one
// write(2) of one buffer instead of a writev(2) of two per frame (the
// kernel imports and walks no iovec array). Under a fan-out of small
// messages this is most frames. A larger payload is referenced, never
// copied.
const copyMax = 512

// hdrKeep is the largest hdr array a reset keeps for the next batch.
const hdrKeep = 1024

// wsBatch is a run of server websocket frames ready to be written: each
// frame is its header (at most 10 bytes, plus the Engine.IO packet type for
// a text frame) followed by its payload. Headers, and payloads of at most
// copyMax bytes, are appended to hdr, and consecutive stretches of hdr are
// one buffer of iov; a larger payload is the Frame's own bytes, never
// copied. A batch is owned by whoever holds its transport's write token.
type wsBatch struct {
	hdr    []byte   // headers and small payloads of the frames added since reset
	hdrRef *[]byte  // hdr's array, taken from hdrPool; nil between batches
	iov    [][]byte // what is left to write, in order
	frames []*Frame // the queue array the frames came from, for reuse

	raw rawWriter // what the OS's write path keeps between batches
}

// hdrPool holds the hdr arrays of written batches: a transport takes one
// when it writes and gives it back once written, so an idle connection
// holds none (and a busy one allocates none).
var hdrPool = sync.Pool{New: func() any { h := make([]byte, 0, 256); return &h }}

// reset empties b, keeping the iov array when of a modest size (an idle
// connection should not hold the arrays of a burst); hdr goes back to
// hdrPool, unless it grew past hdrKeep.
func (b *wsBatch) reset() {
	clear(b.iov)
	b.iov, b.frames = b.iov[:0], nil
	if cap(b.iov) > 64 {
		b.iov = nil
		b.raw.release()
	}
	if b.hdrRef != nil {
		if cap(b.hdr) <= hdrKeep {
			*b.hdrRef = b.hdr[:0]
			hdrPool.Put(b.hdrRef)
		}
		b.hdrRef = nil
	}
	b.hdr = nil
}

// pending reports whether b has bytes left to write.
func (b *wsBatch) pending() bool { return len(b.iov) > 0 }

// reserve makes room for n more bytes in hdr. When it moves hdr to a new
// array, the slices of hdr already in iov keep the old one alive.
func (b *wsBatch) reserve(n int) {
	if b.hdrRef == nil {
		b.hdrRef = hdrPool.Get().(*[]byte)
		b.hdr = (*b.hdrRef)[:0]
	}
	if need := len(b.hdr) + n; need > cap(b.hdr) {
		h := make([]byte, len(b.hdr), max(need+64, 2*cap(b.hdr)))
		copy(h, b.hdr)
		b.hdr = h
	}
}

// addFrames appends the frames of each list in order (addFrame). It
// reserves hdr for all of them first, so that their small frames are one
// buffer: a move of hdr to a larger array starts a new one.
func (b *wsBatch) addFrames(lists ...[]*Frame) {
	n := 0
	for _, fs := range lists {
		for _, f := range fs {
			n += 11
			if len(f.data) <= copyMax {
				n += len(f.data)
			}
		}
	}
	b.reserve(n)
	for _, fs := range lists {
		for _, f := range fs {
			b.addFrame(f)
		}
	}
}

// addFrame appends an Engine.IO frame: a binary message with the raw bytes
// for binary frames, else a text message of the packet type and the text.
func (b *wsBatch) addFrame(f *Frame) {
	if f.binary {
		b.add(opBinary, 0, false, f.data)
		return
	}
	b.add(opText, f.typ, true, f.data)
}

// add appends one final (FIN) frame with opcode op whose payload is the
// byte lead (when withLead) followed by payload.
func (b *wsBatch) add(op byte, lead byte, withLead bool, payload []byte) {
	n := len(payload)
	if withLead {
		n++
	}
	inline := len(payload) <= copyMax
	copied := 0
	if inline {
		copied = len(payload)
	}
	b.reserve(11 + copied)
	start := len(b.hdr)
	h := append(b.hdr, 0x80|op)
	switch {
	case n < 126:
		h = append(h, byte(n))
	case n <= 0xffff:
		h = append(h, 126, byte(n>>8), byte(n))
	default:
		h = append(h, 127, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	if withLead {
		h = append(h, lead)
	}
	if inline {
		h = append(h, payload...)
	}
	b.hdr = h
	b.appendHdr(start)
	if !inline {
		b.iov = append(b.iov, payload)
	}
}

// appendHdr adds hdr[start:] to iov: it extends the last buffer when that
// one ends in hdr's array right before start, else it is a new buffer.
func (b *wsBatch) appendHdr(start int) {
	end := len(b.hdr)
	if k := len(b.iov) - 1; k >= 0 && start > 0 {
		last := b.iov[k]
		if len(last) > 0 && len(last) <= start && &last[len(last)-1] == &b.hdr[start-1] {
			b.iov[k] = b.hdr[start-len(last) : end : end]
			return
		}
	}
	b.iov = append(b.iov, b.hdr[start:end:end])
}

// advance drops the first n written bytes from iov.
func (b *wsBatch) advance(n int) {
	i := 0
	for ; i < len(b.iov) && n >= len(b.iov[i]); i++ {
		n -= len(b.iov[i])
	}
	if i < len(b.iov) && n > 0 {
		b.iov[i] = b.iov[i][n:]
	}
	rest := copy(b.iov, b.iov[i:])
	clear(b.iov[rest:])
	b.iov = b.iov[:rest]
}

// errWouldBlock reports that a non-blocking write made no further progress.
var errWouldBlock = errors.New("engineio: write would block")

// writeConn writes all of b with nc's own Write, blocking until done or
// the connection's write deadline passes; it is the write of a connection
// the raw path does not take (see rawConnOf). A socket of package net
// takes the buffers as they are (net.Buffers: writev, or WSASend on
// Windows); any other conn (TLS) gets them joined into one Write, so that
// TLS makes one record of them.
func (b *wsBatch) writeConn(nc net.Conn) error {
	if _, ok := nc.(syscall.Conn); ok {
		bufs := net.Buffers(b.iov)
		_, err := bufs.WriteTo(nc) // consumes bufs, a tail of b.iov
		rest := copy(b.iov, bufs)
		clear(b.iov[rest:])
		b.iov = b.iov[:rest]
		return err
	}
	var buf []byte
	for _, p := range b.iov {
		buf = append(buf, p...)
	}
	b.advance(len(buf))
	_, err := nc.Write(buf)
	return err
}
