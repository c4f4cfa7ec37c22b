package primary

import "errors"

var (
	// ErrNoCommand is returned by New when Options.Argv is empty.
	ErrNoCommand = errors.New("primary: no worker command")
	// ErrBadOptions is returned by New for an invalid option value.
	ErrBadOptions = errors.New("primary: invalid options")
	// ErrNotTCP is returned by Run for a listener whose connections are not *net.TCPConn.
	ErrNotTCP = errors.New("primary: listener does not yield TCP connections")
)

// ErrShuttingDown is returned when work is refused because the Supervisor is shutting down.
var ErrShuttingDown = errors.New("primary: shutting down")

// ErrStarted is returned by a second call of Supervisor.Run.
var ErrStarted = errors.New("primary: Run already called")
