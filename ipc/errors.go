package ipc

import "errors"

var (
	// ErrFrameTooLarge is returned for a hub frame or control message larger than its limit.
	ErrFrameTooLarge = errors.New("ipc: frame too large")
	// ErrMalformed is returned for bytes that do not form a valid message or frame.
	ErrMalformed = errors.New("ipc: malformed message")
	// ErrTruncated is returned when the kernel truncated a message's control data (MSG_CTRUNC).
	ErrTruncated = errors.New("ipc: control data truncated")
	// ErrClosed is returned by operations on a connection after Close.
	ErrClosed = errors.New("ipc: connection closed")
	// ErrAuth is returned when a peer fails authentication (uid or secret mismatch).
	ErrAuth = errors.New("ipc: peer authentication failed")
	// ErrQueueFull is returned by FrameConn.TryWriteFrame when the write queue is full.
	ErrQueueFull = errors.New("ipc: write queue full")
	// ErrWouldBlock is returned by ControlConn.TrySend when the message
	// does not fit in the socket's send buffer now (sending it would block).
	ErrWouldBlock = errors.New("ipc: send would block")
)
