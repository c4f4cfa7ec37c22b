package nodeipc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Mode is a channel's serialization (NODE_CHANNEL_SERIALIZATION_MODE).
type Mode int

const (
	// JSON frames messages as JSON lines: Node's default.
	JSON Mode = iota
	// Advanced frames V8-serialized messages behind a length.
	Advanced
)

// ParseMode returns the Mode named s ("json" or "advanced").
func ParseMode(s string) (Mode, error) {
	switch s {
	case "json":
		return JSON, nil
	case "advanced":
		return Advanced, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownMode, s)
}

func (m Mode) String() string {
	if m == Advanced {
		return "advanced"
	}
	return "json"
}

// MaxFrame bounds one message's frame (Node has no limit; this one keeps
// a broken or hostile worker from growing the parent's buffer forever).
const MaxFrame = 64 << 20

// Message is one message read from the channel.
type Message struct {
	// Body is the frame's payload without framing: the JSON text, or the
	// V8 body with its header. Relay it with Conn.SendBody on a channel of
	// the same mode.
	Body []byte
	// Value is Body decoded (see DecodeV8 for the Go types; JSON decodes
	// to the same ones, a Buffer being {"type":"Buffer","data":[...]}).
	Value any
	// FD is the handle a {cmd:"NODE_HANDLE"} message came with (a socket
	// the child passed), or -1. It is the caller's to close.
	FD int
}

// maxPendingFDs bounds the received fds no frame has claimed yet; past it
// the oldest are closed (a well-behaved child has one handle in flight).
const maxPendingFDs = 8

// pendingFD is a received fd and the stream offset where the read that
// carried it ended: it belongs to a frame that starts before that offset.
type pendingFD struct {
	fd  int
	end int64
}

// Conn is the parent's end of one Node child's IPC channel.
type Conn struct {
	mode Mode
	uc   *net.UnixConn

	wmu sync.Mutex // serialises writes, so that frames never interleave

	buf  []byte // bytes read but not yet framed (Read's goroutine only)
	rbuf []byte
	oob  []byte
	// framed counts the stream bytes cut off buf so far; fds holds the
	// received fds no frame has claimed yet (Read's goroutine only).
	framed int64
	fds    []pendingFD
}

// NewConn takes ownership of uc, the parent's end of a SOCK_STREAM socket
// pair whose other end is the child's NODE_CHANNEL_FD.
func NewConn(uc *net.UnixConn, mode Mode) *Conn {
	return &Conn{mode: mode, uc: uc, rbuf: make([]byte, 64<<10), oob: make([]byte, unix.CmsgSpace(4*16))}
}

// Mode returns the channel's serialization.
func (c *Conn) Mode() Mode { return c.mode }

// Close closes the channel; Node's child then sees it disconnect.
func (c *Conn) Close() error { return c.uc.Close() }

// SetWriteDeadline bounds the sends in progress and later ones.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.uc.SetWriteDeadline(t) }

// Read returns the next message. An error for which Skippable is true
// concerns that message only (it is consumed; Message.Body holds it); any
// other error ends the channel (io.EOF when the child closed it) and
// closes the fds received but not yet returned. A handle the child sends
// (process.send(msg, socket)) comes back as the FD of its NODE_HANDLE
// message, the caller's to close; fds that came with any other frame are
// closed.
func (c *Conn) Read() (Message, error) {
	m, err := c.read()
	if err != nil && !Skippable(err) {
		c.closePending(-1)
	}
	return m, err
}

func (c *Conn) read() (Message, error) {
	for {
		start := c.framed
		body, ok, err := c.frame()
		if err != nil {
			return Message{FD: -1}, err
		}
		if ok {
			c.closePending(start) // fds of frames before this one
			v, err := c.decode(body)
			m := Message{Body: body, Value: v, FD: -1}
			if obj, _ := v.(map[string]any); obj != nil && obj["cmd"] == "NODE_HANDLE" && len(c.fds) > 0 {
				m.FD = c.fds[0].fd
				c.fds = c.fds[1:]
			}
			return m, err
		}
		n, oobn, _, _, err := c.uc.ReadMsgUnix(c.rbuf, c.oob)
		if oobn > 0 {
			c.keepRights(c.oob[:oobn], c.framed+int64(len(c.buf)+n))
		}
		switch {
		case n > 0: // bytes first; an error comes back on the next read
		case err == nil:
			return Message{FD: -1}, io.EOF
		case errors.Is(err, net.ErrClosed):
			return Message{FD: -1}, ErrClosed
		case errors.Is(err, syscall.ECONNRESET):
			return Message{FD: -1}, io.EOF
		default:
			return Message{FD: -1}, fmt.Errorf("nodeipc: read: %w", err)
		}
		c.buf = append(c.buf, c.rbuf[:n]...)
	}
}

// keepRights queues the fds in the control messages oob, which came with
// a read that ended at stream offset end, closing the oldest past
// maxPendingFDs.
func (c *Conn) keepRights(oob []byte, end int64) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			c.fds = append(c.fds, pendingFD{fd, end})
		}
	}
	for len(c.fds) > maxPendingFDs {
		unix.Close(c.fds[0].fd)
		c.fds = c.fds[1:]
	}
}

// closePending closes the queued fds that came with reads ending at or
// before offset start (frames before the one starting there), or all of
// them when start is negative.
func (c *Conn) closePending(start int64) {
	for len(c.fds) > 0 && (start < 0 || c.fds[0].end <= start) {
		unix.Close(c.fds[0].fd)
		c.fds = c.fds[1:]
	}
}

// frame cuts the next complete frame off c.buf.
func (c *Conn) frame() ([]byte, bool, error) {
	if c.mode == JSON {
		i := bytes.IndexByte(c.buf, '\n')
		if i < 0 {
			if len(c.buf) > MaxFrame {
				return nil, false, ErrFrameTooLarge
			}
			return nil, false, nil
		}
		body := append([]byte(nil), c.buf[:i]...)
		c.buf = c.buf[:copy(c.buf, c.buf[i+1:])]
		c.framed += int64(i + 1)
		return body, true, nil
	}
	if len(c.buf) < 4 {
		return nil, false, nil
	}
	n := binary.BigEndian.Uint32(c.buf)
	if n > MaxFrame {
		return nil, false, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n)
	}
	if len(c.buf) < 4+int(n) {
		return nil, false, nil
	}
	body := append([]byte(nil), c.buf[4:4+n]...)
	c.buf = c.buf[:copy(c.buf, c.buf[4+n:])]
	c.framed += 4 + int64(n)
	return body, true, nil
}

func (c *Conn) decode(body []byte) (any, error) {
	if c.mode == Advanced {
		return DecodeV8(body)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return v, nil
}

// Encode returns v's body in the channel's mode (see EncodeV8 for the Go
// types advanced mode takes).
func (c *Conn) Encode(v any) ([]byte, error) {
	if c.mode == Advanced {
		return EncodeV8(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return b, nil
}

// Send encodes v and writes it as one frame.
func (c *Conn) Send(v any) error {
	body, err := c.Encode(v)
	if err != nil {
		return err
	}
	return c.SendBody(body, -1)
}

// SendBody frames body (a Message.Body or an Encode result of this mode)
// and writes it. With fd >= 0 the fd goes in SCM_RIGHTS of the sendmsg
// that carries the frame's first byte, as Node pairs them; fd stays the
// caller's (the kernel sends a copy).
func (c *Conn) SendBody(body []byte, fd int) error {
	var frame []byte
	if c.mode == JSON {
		frame = append(append(make([]byte, 0, len(body)+1), body...), '\n')
	} else {
		frame = binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
		frame = append(frame, body...)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	for len(frame) > 0 {
		n, _, err := c.uc.WriteMsgUnix(frame, oob, nil)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return ErrClosed
			}
			return fmt.Errorf("nodeipc: write: %w", err)
		}
		frame, oob = frame[n:], nil
	}
	return nil
}

// SendHandle writes msg wrapped as Node's handle message,
// {cmd:"NODE_HANDLE", type:"net.Socket", msg}, with fd (a connected
// socket) in the same sendmsg. It first makes fd non-blocking (libuv
// never does, and a blocking socket would stall the child's event loop).
// No "key" is sent, so the child tracks no socket list for the parent.
func (c *Conn) SendHandle(msg any, fd int) error {
	if err := unix.SetNonblock(fd, true); err != nil {
		return fmt.Errorf("nodeipc: handle: %w", err)
	}
	body, err := c.Encode(map[string]any{"cmd": "NODE_HANDLE", "type": "net.Socket", "msg": msg})
	if err != nil {
		return err
	}
	return c.SendBody(body, fd)
}
