package primary

import "errors"

var (
	// ErrReloadFailed is returned by Supervisor.Reload when the new generation did not become ready; the old one keeps serving.
	ErrReloadFailed = errors.New("primary: reload failed")
)
