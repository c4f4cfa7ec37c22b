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
}

// Conn is the parent's end of one Node child's IPC channel.
type Conn struct {
	mode Mode
	uc   *net.UnixConn

	wmu sync.Mutex // serialises writes, so that frames never interleave

	buf  []byte // bytes read but not yet framed (Read's goroutine only)
	rbuf []byte
	oob  []byte
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
// other error ends the channel (io.EOF when the child closed it). File
// descriptors the child sends are closed: a parent never takes handles.
func (c *Conn) Read() (Message, error) {
	for {
		body, ok, err := c.frame()
		if err != nil {
			return Message{}, err
		}
		if ok {
			v, err := c.decode(body)
			return Message{Body: body, Value: v}, err
		}
		n, oobn, _, _, err := c.uc.ReadMsgUnix(c.rbuf, c.oob)
		if oobn > 0 {
			closeRights(c.oob[:oobn])
		}
		switch {
		case n > 0: // bytes first; an error comes back on the next read
		case err == nil:
			return Message{}, io.EOF
		case errors.Is(err, net.ErrClosed):
			return Message{}, ErrClosed
		case errors.Is(err, syscall.ECONNRESET):
			return Message{}, io.EOF
		default:
			return Message{}, fmt.Errorf("nodeipc: read: %w", err)
		}
		c.buf = append(c.buf, c.rbuf[:n]...)
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

// closeRights closes every fd in the control messages oob.
func closeRights(oob []byte) {
	if len(oob) == 0 {
		return
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for _, m := range msgs {
		if fds, err := unix.ParseUnixRights(&m); err == nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
	}
}
