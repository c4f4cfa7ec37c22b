// Package peercred reads the credentials of the process at the other end
// of a Unix socket (SO_PEERCRED), as the kernel recorded them when the
// connection was made (Linux); on other systems UID fails with
// ErrUnsupported.
//
// # Concurrency
//
// UID is safe for concurrent use; it makes one getsockopt on the socket.
package peercred

import "errors"

// ErrUnsupported is returned by UID where SO_PEERCRED does not exist (outside Linux).
var ErrUnsupported = errors.New("peercred: peer credentials not supported on this system")
