package primary

import "errors"

var (
	// ErrBadRequest is returned by ParseRequestLine for bytes that cannot start an HTTP/1.x request.
	ErrBadRequest = errors.New("primary: bad request line")
	// ErrLineTooLong is returned by ParseRequestLine when the request line exceeds MaxRequestLine.
	ErrLineTooLong = errors.New("primary: request line too long")
	// ErrTLS is returned by ParseRequestLine for a TLS ClientHello (TLS is not terminated by stickyd).
	ErrTLS = errors.New("primary: TLS handshake on plain HTTP port")
	// ErrHTTP2 is returned by ParseRequestLine for the HTTP/2 connection preface.
	ErrHTTP2 = errors.New("primary: HTTP/2 preface (only HTTP/1.x is routed)")
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
