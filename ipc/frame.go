package ipc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/stickyd/stickyd/internal/rawsys"
)

// MaxHubFrame is the largest hub frame (type byte + payload), in bytes.
const MaxHubFrame = 16 << 20

// FrameQueueLimit bounds the bytes a FrameConn queues for its writer. A frame
// is admitted when the queue is empty or the frame fits under the limit, so
// a single frame of any allowed size always gets through.
const FrameQueueLimit = 4 << 20

const (
	frameHeader     = 4        // u32 length of type + payload
	readBufferSize  = 64 << 10 // bufio.Reader size
	keepBufferBytes = 1 << 20  // larger read/write buffers are dropped after use
)

// FrameConn carries length-prefixed frames over a stream connection: u32
// little-endian length of (type + payload), 1 byte type, payload.
//
// Writes are queued and written by one writer goroutine per FrameConn, which
// writes everything queued in one call, so a steady stream of small frames
// costs far fewer than one syscall per frame. WriteFrame blocks while the
// queue holds FrameQueueLimit bytes; TryWriteFrame returns ErrQueueFull
// instead. QueueFrame queues without waking the writer and Push then
// writes what is queued on the caller's goroutine, when no write is in
// flight: a relay that forwards a batch it has read (package hub) writes
// it with no goroutine hand-off and one call per destination.
type FrameConn struct {
	conn net.Conn
	rw   io.ReadWriter // conn, or raw calls on its socket (rawStream)
	tw   tryWriter     // rw when it can write without waiting, else nil
	max  int

	rd frameReader

	mu      sync.Mutex
	space   *sync.Cond // signalled when the queue drains, bytes are written, or on close
	pending []byte     // encoded frames not yet taken by the writer
	spare   []byte     // the writer's previous batch, reused
	queued  uint64     // bytes ever queued
	written uint64     // bytes ever written
	werr    error      // sticky: ErrClosed or the write error
	busy    bool       // a batch is being written (writer goroutine or Push)

	wake      chan struct{} // cap 1: pending may be non-empty
	quit      chan struct{}
	done      chan struct{} // writer exited
	closeOnce sync.Once
	closeErr  error
}

// NewFrameConn wraps c, starting its writer goroutine. Frames longer than
// maxFrame (type byte included) are refused in both directions; maxFrame <= 0
// or above MaxHubFrame means MaxHubFrame. The FrameConn owns c from then on;
// Close stops the writer.
func NewFrameConn(c net.Conn, maxFrame int) *FrameConn {
	if maxFrame <= 0 || maxFrame > MaxHubFrame {
		maxFrame = MaxHubFrame
	}
	rw := rawStream(c)
	tw, _ := rw.(tryWriter)
	fc := &FrameConn{
		conn: c,
		rw:   rw,
		tw:   tw,
		max:  maxFrame,
		rd:   frameReader{r: newBufReader(rw), max: maxFrame},
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	fc.space = sync.NewCond(&fc.mu)
	go fc.writeLoop()
	return fc
}

// ListenHub listens on a new SOCK_STREAM Unix socket at path with mode 0600
// (set after bind: put path in a 0700 directory). The socket file is removed
// when the listener is closed.
func ListenHub(path string) (*net.UnixListener, error) {
	return listenUnix("unix", path)
}

// DialHub connects to the hub socket at path and returns a FrameConn with
// the MaxHubFrame limit.
func DialHub(path string) (*FrameConn, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("ipc: dial hub %s: %w", path, err)
	}
	return NewFrameConn(c, MaxHubFrame), nil
}

// WriteFrame queues one frame, copying payload (the caller may reuse it when
// WriteFrame returns), and blocks while the queue is full. It returns
// ErrFrameTooLarge for a frame over the limit, ErrClosed after Close, or the
// writer's error once a write failed. A nil return means queued, not yet
// written: see Flush. Safe for concurrent use; frames from one goroutine are
// written in order.
func (c *FrameConn) WriteFrame(typ byte, payload []byte) error {
	return c.enqueue(typ, payload, true, true)
}

// TryWriteFrame is WriteFrame that returns ErrQueueFull instead of blocking.
func (c *FrameConn) TryWriteFrame(typ byte, payload []byte) error {
	return c.enqueue(typ, payload, false, true)
}

// QueueFrame is TryWriteFrame that does not wake the writer: the frame
// waits until the caller's Push (or a write of another frame) takes it.
// The caller must call Push once it has queued what it has at hand, and
// before it waits for anything.
func (c *FrameConn) QueueFrame(typ byte, payload []byte) error {
	return c.enqueue(typ, payload, false, false)
}

// Push starts writing every queued frame. When no write is in flight and
// the connection is a non-blocking socket, it writes them on the calling
// goroutine with one call that never waits; what the socket does not take
// at once, and everything in the other cases, goes to the writer
// goroutine. A write error is handled as the writer's (sticky, the
// connection closed). Safe for concurrent use.
func (c *FrameConn) Push() {
	c.mu.Lock()
	if len(c.pending) == 0 || c.werr != nil {
		c.mu.Unlock()
		return
	}
	if c.busy || c.tw == nil {
		c.mu.Unlock()
		c.kick()
		return
	}
	batch := c.take()
	c.mu.Unlock()
	n, err := c.tw.TryWrite(batch)
	c.mu.Lock()
	c.busy = false
	if err == nil && n < len(batch) {
		// The rest goes before what was queued meanwhile, to the writer.
		rest := copy(batch, batch[n:])
		merged := append(batch[:rest], c.pending...)
		c.pending, batch = merged, c.pending
	}
	failed := c.wrote(batch, n, err)
	more := len(c.pending) > 0
	c.mu.Unlock()
	if failed {
		c.conn.Close()
	}
	if more || failed {
		c.kick()
	}
}

// tryWriter writes what a socket takes now, never waiting
// (rawsys.Stream.TryWrite).
type tryWriter interface {
	TryWrite(b []byte) (int, error)
}

// kick wakes the writer goroutine.
func (c *FrameConn) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// take returns the queued bytes as a batch to write and marks a write in
// flight. Called with mu held and pending not empty.
func (c *FrameConn) take() []byte {
	batch := c.pending
	c.pending = c.spare[:0]
	c.spare = nil
	c.busy = true
	return batch
}

// wrote records the end of a write of n bytes that stopped with err,
// keeps buf (done with) as the spare buffer and wakes the waiters. It
// reports whether the connection failed: the caller then closes it.
// Called with mu held, busy cleared.
func (c *FrameConn) wrote(buf []byte, n int, err error) bool {
	if cap(buf) <= keepBufferBytes && c.spare == nil {
		c.spare = buf[:0]
	}
	c.written += uint64(n)
	if err != nil && c.werr == nil {
		c.werr = fmt.Errorf("ipc: write frame: %w", err)
		if c.isClosed() || errors.Is(err, net.ErrClosed) {
			c.werr = ErrClosed
		}
	}
	c.space.Broadcast()
	return c.werr != nil
}

func (c *FrameConn) enqueue(typ byte, payload []byte, block, wake bool) error {
	if 1+len(payload) > c.max {
		return fmt.Errorf("%w: %d bytes exceeds %d", ErrFrameTooLarge, 1+len(payload), c.max)
	}
	need := frameHeader + 1 + len(payload)
	c.mu.Lock()
	for c.werr == nil && len(c.pending) > 0 && len(c.pending)+need > FrameQueueLimit {
		if !block {
			c.mu.Unlock()
			return ErrQueueFull
		}
		c.space.Wait()
	}
	if err := c.werr; err != nil {
		c.mu.Unlock()
		return err
	}
	c.pending = binary.LittleEndian.AppendUint32(c.pending, uint32(1+len(payload)))
	c.pending = append(c.pending, typ)
	c.pending = append(c.pending, payload...)
	c.queued += uint64(need)
	c.mu.Unlock()
	if wake {
		c.kick()
	}
	return nil
}

// Flush blocks until every frame queued before the call has been written to
// the connection, or returns the error that stopped the writer.
func (c *FrameConn) Flush() error {
	c.kick() // frames of QueueFrame wait for it
	c.mu.Lock()
	defer c.mu.Unlock()
	target := c.queued
	for c.written < target && c.werr == nil {
		c.space.Wait()
	}
	if c.written < target {
		return c.werr
	}
	return nil
}

func (c *FrameConn) writeLoop() {
	defer close(c.done)
	for {
		select {
		case <-c.wake:
		case <-c.quit:
			return
		}
		c.mu.Lock()
		if c.werr != nil {
			c.mu.Unlock()
			return
		}
		if c.busy || len(c.pending) == 0 {
			// Push is writing: it wakes the writer when it leaves frames.
			c.mu.Unlock()
			continue
		}
		batch := c.take()
		c.mu.Unlock()
		n, err := c.rw.Write(batch)
		c.mu.Lock()
		c.busy = false
		failed := c.wrote(batch, n, err)
		c.mu.Unlock()
		if failed {
			c.conn.Close()
			return
		}
	}
}

// ReadFrame reads the next frame. payload aliases an internal buffer that is
// valid until the next ReadFrame call. It returns io.EOF at a clean end of
// stream, io.ErrUnexpectedEOF inside a frame, ErrFrameTooLarge (wrapped) for
// a frame over the limit, ErrMalformed (wrapped) for a zero length, and
// ErrClosed after Close. Errors are sticky: the stream cannot be resynchronised.
// Only one goroutine may call ReadFrame at a time.
func (c *FrameConn) ReadFrame() (typ byte, payload []byte, err error) {
	typ, payload, err = c.rd.next()
	if err != nil && c.isClosed() {
		return 0, nil, ErrClosed
	}
	return typ, payload, err
}

// FrameBuffered reports whether the next frame is already read in whole,
// so that ReadFrame returns it without reading the connection (or fails
// at once). Only the ReadFrame caller may call it.
func (c *FrameConn) FrameBuffered() bool {
	return c.rd.buffered()
}

// Close closes the connection, discarding frames not yet written (call
// Flush first to keep them), and waits for the writer goroutine to exit.
// Blocked WriteFrame, Flush and ReadFrame calls return ErrClosed. Idempotent.
func (c *FrameConn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		if c.werr == nil {
			c.werr = ErrClosed
		}
		close(c.quit)
		c.space.Broadcast()
		c.mu.Unlock()
		c.closeErr = c.conn.Close()
		<-c.done
	})
	return c.closeErr
}

func (c *FrameConn) isClosed() bool {
	select {
	case <-c.quit:
		return true
	default:
		return false
	}
}

// frameReader decodes frames from a buffered stream.
type frameReader struct {
	r   *bufio.Reader
	max int
	buf []byte
	err error
}

func (fr *frameReader) next() (byte, []byte, error) {
	if fr.err != nil {
		return 0, nil, fr.err
	}
	if cap(fr.buf) > keepBufferBytes {
		fr.buf = nil
	}
	hdr, err := fr.r.Peek(frameHeader)
	if err != nil {
		if err == io.EOF && len(hdr) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return fr.fail(err)
	}
	n := binary.LittleEndian.Uint32(hdr)
	fr.r.Discard(frameHeader)
	switch {
	case n == 0:
		return fr.fail(fmt.Errorf("%w: zero-length frame", ErrMalformed))
	case uint64(n) > uint64(fr.max):
		return fr.fail(fmt.Errorf("%w: %d bytes exceeds %d", ErrFrameTooLarge, n, fr.max))
	}
	if cap(fr.buf) < int(n) {
		fr.buf = make([]byte, n)
	}
	b := fr.buf[:n]
	if _, err := io.ReadFull(fr.r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fr.fail(err)
	}
	return b[0], b[1:], nil
}

func (fr *frameReader) buffered() bool {
	if fr.err != nil {
		return true
	}
	n := fr.r.Buffered()
	if n < frameHeader {
		return false
	}
	hdr, _ := fr.r.Peek(frameHeader)
	return uint64(n) >= frameHeader+uint64(binary.LittleEndian.Uint32(hdr))
}

func (fr *frameReader) fail(err error) (byte, []byte, error) {
	fr.err = err
	return 0, nil, err
}

// rawStream returns what a FrameConn reads and writes c through: raw
// system calls on c's socket (internal/rawsys: a hub link carries a frame
// batch per broadcast and per room change, and the runtime's syscall
// bookkeeping would wake its monitor thread each time) when c has a
// non-blocking one, c itself otherwise.
func rawStream(c net.Conn) io.ReadWriter {
	rc := rawsys.RawConnOf(c)
	if rc == nil {
		return c
	}
	s := &rawsys.Stream{}
	s.Init(rc)
	return s
}

func newBufReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, readBufferSize) }
