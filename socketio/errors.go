package socketio

import "errors"

var (
	// ErrParse is wrapped by every error the packet decoder returns; a
	// client that sends a malformed packet is closed with reason "parse error".
	ErrParse = errors.New("socketio: parse error")
	// ErrTooManyAttachments is returned (wrapped in ErrParse) when a binary
	// packet announces more attachments than Options.MaxAttachments.
	ErrTooManyAttachments = errors.New("socketio: too many attachments")
	// ErrReservedEvent is returned by Emit for the reserved event names
	// connect, connect_error, disconnect, disconnecting, newListener and
	// removeListener.
	ErrReservedEvent = errors.New("socketio: reserved event name")
	// ErrDisconnected is returned when emitting on a socket that is no
	// longer connected, and by EmitWithAck when the socket disconnects
	// before the acknowledgement arrives.
	ErrDisconnected = errors.New("socketio: socket disconnected")
	// ErrTimeout is returned by EmitWithAck, FetchSockets and
	// ServerSideEmit when the deadline passes before every answer arrived;
	// results gathered so far are returned alongside it.
	ErrTimeout = errors.New("socketio: operation has timed out")
	// ErrInvalidHandler is returned by On and OnServerSideEmit when a
	// handler's type is not one of the accepted forms.
	ErrInvalidHandler = errors.New("socketio: invalid handler")
	// ErrBadArgument is returned when an emitted argument cannot be encoded.
	ErrBadArgument = errors.New("socketio: argument cannot be encoded")
	// ErrAlreadyAcked is returned when an AckFunc is called a second time.
	ErrAlreadyAcked = errors.New("socketio: ack already sent")
)
