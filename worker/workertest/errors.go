package workertest

import "errors"

var (
	// ErrTimeout is returned by the methods that wait when Options.Timeout passes first.
	ErrTimeout = errors.New("workertest: timed out")
	// ErrLinkClosed is returned when the worker's control link ended while waiting.
	ErrLinkClosed = errors.New("workertest: control link closed")
	// ErrNotConnected is returned by methods that need the worker's control link before it exists.
	ErrNotConnected = errors.New("workertest: worker not connected")
	// ErrUnexpected is returned by Next when the worker sent another message than the one awaited.
	ErrUnexpected = errors.New("workertest: unexpected message")
	// ErrBadHello is returned by Hello and AcceptHub when the worker introduced itself wrongly.
	ErrBadHello = errors.New("workertest: bad hello")
)
