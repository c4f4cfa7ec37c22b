package hub

import "errors"

var (
	// ErrLinkClosed is returned when a Client's hub link is gone (Close, or the hub closed it).
	ErrLinkClosed = errors.New("hub: link closed")
	// ErrJoinTimeout is returned by Client.Join when the hub does not send its first member set in time.
	ErrJoinTimeout = errors.New("hub: no member set from the hub in time")
	// ErrSlowConsumer is the reason logged when a member's outbound queue stays full and its link is cut.
	ErrSlowConsumer = errors.New("hub: slow consumer")
	// ErrBridge is returned when a Redis bridge cannot be attached to a Server.
	ErrBridge = errors.New("hub: redis bridge not attached")
	// ErrMalformedPayload is returned for an adapter payload (see PayloadReader) that does not decode.
	ErrMalformedPayload = errors.New("hub: malformed adapter payload")
)
