package ipc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/stickyd/stickyd/internal/rawsys"
	"golang.org/x/sys/unix"
)

// maxRecvFDs is how many descriptors Recv makes room for. A valid message
// carries at most one; room for a few more lets Recv see (and close) a
// message that carries too many without MSG_CTRUNC. Beyond it the kernel
// truncates and Recv reports ErrTruncated.
const maxRecvFDs = 4

// ControlConn is one end of a control link: a SOCK_SEQPACKET Unix connection
// carrying one Message per datagram and at most one fd per message.
type ControlConn struct {
	uc *net.UnixConn
	rc syscall.RawConn // uc's, for TrySend

	rbuf []byte // Recv's datagram buffer: MaxControlMessage+1 bytes
	oob  []byte // Recv's control buffer

	// Recv's result, set by recvFn (rc.Read's callback, made once).
	rn, roobn, rflags int
	rerr              error
	recvFn            func(uintptr) bool

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
}

// sendBufs pools Send's encoding buffers.
var sendBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// ListenControl listens on a new SOCK_SEQPACKET Unix socket at path and sets
// the socket file's mode to 0600. The socket file is removed when the
// listener is closed. Put path in a directory of mode 0700: the mode is set
// after bind.
func ListenControl(path string) (*net.UnixListener, error) {
	return listenUnix("unixpacket", path)
}

func listenUnix(network, path string) (*net.UnixListener, error) {
	l, err := net.ListenUnix(network, &net.UnixAddr{Name: path, Net: network})
	if err != nil {
		return nil, fmt.Errorf("ipc: listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("ipc: chmod %s: %w", path, err)
	}
	return l, nil
}

// NewControlConn wraps c, which must be a SOCK_SEQPACKET ("unixpacket")
// connection, e.g. one accepted from a ListenControl listener. The
// ControlConn owns c from then on.
func NewControlConn(c *net.UnixConn) *ControlConn {
	rc, _ := c.SyscallConn() // fails only for a nil c
	cc := &ControlConn{
		uc:     c,
		rc:     rc,
		rbuf:   make([]byte, MaxControlMessage+1),
		oob:    make([]byte, unix.CmsgSpace(maxRecvFDs*4)),
		closed: make(chan struct{}),
	}
	cc.recvFn = cc.recvOnFD
	return cc
}

// DialControl connects to the control socket at path.
func DialControl(path string) (*ControlConn, error) {
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("ipc: dial control %s: %w", path, err)
	}
	return NewControlConn(c), nil
}

// Send writes m as one datagram, with fd attached when fd >= 0. It never
// closes fd and never changes its blocking mode: the caller keeps ownership
// and must keep fd open until Send returns (e.g. call Send inside
// syscall.RawConn.Control). Send blocks while the peer's receive queue is
// full (see SetWriteDeadline). It is safe for concurrent use; each message is
// written atomically. After Close it returns ErrClosed.
func (c *ControlConn) Send(m *Message, fd int) error {
	bp := sendBufs.Get().(*[]byte)
	defer sendBufs.Put(bp)
	b, oob, err := encodeMsg(bp, m, fd)
	if err != nil {
		return err
	}
	if _, _, err := c.uc.WriteMsgUnix(b, oob, nil); err != nil {
		if c.isClosed() || errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("ipc: send %s: %w", m.Type, ErrClosed)
		}
		return fmt.Errorf("ipc: send %s: %w", m.Type, err)
	}
	return nil
}

// encodeMsg encodes m into the pooled buffer *bp (keeping its array for the
// pool) and the SCM_RIGHTS control data for fd (none when fd < 0).
func encodeMsg(bp *[]byte, m *Message, fd int) (b, oob []byte, err error) {
	b, err = m.AppendBinary((*bp)[:0])
	*bp = b[:0]
	if err == nil && fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	return b, oob, err
}

// TrySend is Send without waiting: it makes one sendmsg(MSG_DONTWAIT)
// and returns an error wrapping ErrWouldBlock, having sent nothing, when
// the datagram does not fit in the socket's send buffer now (the peer is
// behind on reading). A SOCK_SEQPACKET datagram is sent whole or not at
// all. Like Send it never closes fd nor changes its blocking mode, is safe
// for concurrent use with Send and TrySend, and returns ErrClosed after
// Close. It does not wait for a Send blocked on a full buffer either: it
// fails with ErrWouldBlock at once (messages of concurrent senders are
// not ordered).
func (c *ControlConn) TrySend(m *Message, fd int) error {
	bp := sendBufs.Get().(*[]byte)
	defer sendBufs.Put(bp)
	b, oob, err := encodeMsg(bp, m, fd)
	if err != nil {
		return err
	}
	var serr error
	// Control, not Write: Write would wait for the poller's write lock,
	// which a Send blocked on a full buffer holds. The kernel serialises
	// concurrent sends on the socket itself.
	err = c.rc.Control(func(s uintptr) {
		// Raw (see internal/rawsys): MSG_DONTWAIT, so it never sleeps.
		if _, e := rawsys.Sendmsg(int(s), b, oob, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL); e != 0 {
			serr = e
		}
	})
	switch {
	case err != nil:
		if c.isClosed() || errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("ipc: send %s: %w", m.Type, ErrClosed)
		}
		return fmt.Errorf("ipc: send %s: %w", m.Type, err)
	case serr == unix.EAGAIN:
		return fmt.Errorf("ipc: send %s: %w", m.Type, ErrWouldBlock)
	case serr != nil:
		return fmt.Errorf("ipc: send %s: %w", m.Type, os.NewSyscallError("sendmsg", serr))
	}
	return nil
}

// Recv reads the next message and the fd it carries (nil when none); the
// *os.File is close-on-exec, non-blocking (a blocking fd is switched, and
// its file description with it) and so registered with Go's poller:
// reads, writes and deadlines work as on a net.Conn. It is owned by the
// caller. Conn and HandBack
// messages must carry exactly one fd, all others none. Recv returns io.EOF
// when the peer closed the link, ErrClosed after Close, ErrTruncated when
// the kernel truncated the control data (MSG_CTRUNC), and an error wrapping
// ErrMalformed for a malformed or oversized message or a wrong number of
// fds, or the system call's error when a blocking fd cannot be made
// non-blocking (see pollable: EMFILE when no fd is free for its
// duplicate). On every error, each fd the message carried is closed. Any error
// leaves the link unfit for use: the caller should Close it. Only one
// goroutine may call Recv at a time.
func (c *ControlConn) Recv() (Message, *os.File, error) {
	n, oobn, flags, err := c.recvmsg()
	fds, cerr := parseRights(c.oob[:oobn])
	fail := func(err error) (Message, *os.File, error) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return Message{}, nil, err
	}
	switch {
	case errors.Is(err, io.EOF) && oobn == 0:
		return Message{}, nil, io.EOF
	case errors.Is(err, io.EOF):
		return fail(fmt.Errorf("%w: empty datagram with control data", ErrMalformed))
	case err != nil:
		if c.isClosed() || errors.Is(err, net.ErrClosed) {
			return fail(fmt.Errorf("ipc: recv: %w", ErrClosed))
		}
		return fail(fmt.Errorf("ipc: recv: %w", err))
	case flags&unix.MSG_CTRUNC != 0:
		return fail(fmt.Errorf("%w: message carried more than %d fds", ErrTruncated, len(fds)))
	case flags&unix.MSG_TRUNC != 0:
		return fail(fmt.Errorf("%w: datagram exceeds %d bytes", ErrMalformed, MaxControlMessage))
	case cerr != nil:
		return fail(cerr)
	case n == 0:
		return fail(fmt.Errorf("%w: empty datagram", ErrMalformed))
	}
	m, err := ParseMessage(c.rbuf[:n])
	if err != nil {
		return fail(err)
	}
	want := 0
	if m.Type == MsgConn || m.Type == MsgHandBack {
		want = 1
	}
	if len(fds) != want {
		return fail(fmt.Errorf("%w: %s message with %d fds", ErrMalformed, m.Type, len(fds)))
	}
	if want == 0 {
		return m, nil, nil
	}
	f := os.NewFile(uintptr(fds[0]), "ipc-conn")
	if err := f.SetReadDeadline(time.Time{}); errors.Is(err, os.ErrNoDeadline) {
		// A blocking fd: os.NewFile left it out of the poller. Make it
		// non-blocking and take a new File of it, which the poller takes.
		if f, err = pollable(f); err != nil {
			return Message{}, nil, fmt.Errorf("ipc: recv: %s message: %w", m.Type, err)
		}
	}
	return m, f, nil
}

// recvmsg reads one datagram into rbuf and oob, waiting in Go's poller
// (deadlines apply) and reading with a raw recvmsg (see internal/rawsys):
// what net.UnixConn.ReadMsgUnix does, received fds close-on-exec, an
// empty datagram io.EOF.
func (c *ControlConn) recvmsg() (n, oobn, flags int, err error) {
	c.rn, c.roobn, c.rflags, c.rerr = 0, 0, 0, nil
	if err := c.rc.Read(c.recvFn); err != nil {
		return 0, 0, 0, err
	}
	if c.rerr != nil {
		return 0, 0, 0, c.rerr
	}
	if c.rn == 0 {
		err = io.EOF
	}
	return c.rn, c.roobn, c.rflags, err
}

// recvOnFD is one recvmsg of the socket; false asks the poller to wait for
// readability.
func (c *ControlConn) recvOnFD(fd uintptr) bool {
	n, oobn, flags, e := rawsys.Recvmsg(int(fd), c.rbuf, c.oob, unix.MSG_CMSG_CLOEXEC)
	switch e {
	case 0:
		c.rn, c.roobn, c.rflags = n, oobn, flags
	case unix.EAGAIN:
		return false
	default:
		c.rerr = os.NewSyscallError("recvmsg", e)
	}
	return true
}

// pollable turns f, a File of a blocking fd, into a File of the same file
// description in non-blocking mode, registered with Go's poller (deadlines
// work): it switches the mode and takes a close-on-exec duplicate of the
// fd, closing f. When either system call fails (a duplicate needs a free
// fd: EMFILE), it closes f and returns the *os.SyscallError: a File left
// out of the poller with its fd non-blocking would fail every read with
// EAGAIN.
func pollable(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	fd := -1
	var serr error
	cerr := rc.Control(func(s uintptr) {
		if err := unix.SetNonblock(int(s), true); err != nil {
			serr = os.NewSyscallError("fcntl F_SETFL", err)
			return
		}
		dup, err := unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			serr = os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
			return
		}
		fd = dup
	})
	f.Close()
	if err := errors.Join(cerr, serr); err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// parseRights returns every fd in the SCM_RIGHTS messages of oob, and an
// error wrapping ErrMalformed for any other or unparsable control message.
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("%w: control data: %v", ErrMalformed, err)
	}
	var fds []int
	var bad error
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			bad = fmt.Errorf("%w: unexpected control message level %d type %d", ErrMalformed, msgs[i].Header.Level, msgs[i].Header.Type)
			continue
		}
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			bad = fmt.Errorf("%w: SCM_RIGHTS: %v", ErrMalformed, err)
			continue
		}
		fds = append(fds, got...)
	}
	return fds, bad
}

// PeerCred returns the credentials of the peer process (SO_PEERCRED), as of
// when the connection was established.
func (c *ControlConn) PeerCred() (*unix.Ucred, error) {
	rc, err := c.uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("ipc: peer cred: %w", err)
	}
	var cred *unix.Ucred
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		cred, gerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, fmt.Errorf("ipc: peer cred: %w", err)
	}
	if gerr != nil {
		return nil, fmt.Errorf("ipc: peer cred: %w", gerr)
	}
	return cred, nil
}

// SetWriteDeadline sets the deadline for Send; see net.Conn.
func (c *ControlConn) SetWriteDeadline(t time.Time) error { return c.uc.SetWriteDeadline(t) }

// SetReadDeadline sets the deadline for Recv; see net.Conn.
func (c *ControlConn) SetReadDeadline(t time.Time) error { return c.uc.SetReadDeadline(t) }

// Close closes the link, unblocking Send and Recv. It is idempotent: later
// calls return the first call's result.
func (c *ControlConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.closeErr = c.uc.Close()
	})
	return c.closeErr
}

// Done returns a channel closed when Close is called.
func (c *ControlConn) Done() <-chan struct{} { return c.closed }

func (c *ControlConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}
