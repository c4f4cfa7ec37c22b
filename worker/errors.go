package worker

import "errors"

var (
	// ErrEnv is returned by Listen when the STICKYD_* environment is invalid.
	ErrEnv = errors.New("worker: invalid stickyd environment")
	// ErrHandshake is returned by Listen when the primary does not welcome this worker.
	ErrHandshake = errors.New("worker: handshake with primary failed")
	// ErrNotManaged is returned by operations that need a primary in standalone mode.
	ErrNotManaged = errors.New("worker: not running under stickyd")
)
