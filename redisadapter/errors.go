package redisadapter

import "errors"

var (
	// ErrBadURL is returned by New for a URL go-redis cannot parse.
	ErrBadURL = errors.New("redisadapter: bad redis URL")
	// ErrClosed is returned by operations on a closed Peer or adapter, and
	// ends the requests pending when it closes.
	ErrClosed = errors.New("redisadapter: closed")
	// ErrNamespaceTaken is returned by Init when the Peer already serves
	// the namespace (two servers on one Peer).
	ErrNamespaceTaken = errors.New("redisadapter: namespace already served by this peer")
	// ErrUnavailable wraps the failures of fleet requests while Redis
	// cannot be reached; local results are returned with it.
	ErrUnavailable = errors.New("redisadapter: redis unavailable")
	// ErrBadMode is returned by New for an unknown Mode or SubscriptionMode.
	ErrBadMode = errors.New("redisadapter: unknown mode")
	// ErrTooLarge is counted for a message over Options.MaxMessageBytes.
	ErrTooLarge = errors.New("redisadapter: message too large")
)
