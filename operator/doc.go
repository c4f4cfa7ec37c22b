// Package operator is stickyd's operator socket: the Unix socket through
// which the person running stickyd asks it for its status, a reload or a
// stop (`stickyd status|reload|stop`). Server serves it; Call is the
// client the commands use.
//
// The protocol is one JSON Request line and one JSON Response line per
// connection, on a SOCK_STREAM socket of mode 0600 whose directory is
// 0700; a client of another uid (SO_PEERCRED) is refused with ErrDenied.
// The status report types (StatusReport and those it holds) are the
// protocol's JSON, filled in by primary.Supervisor.Report.
//
// # Concurrency
//
// A Server answers each connection on its own goroutine, started under
// the lock that Close takes, so none outlives Close; the Options
// callbacks may run concurrently (reloads are serialised by the
// Supervisor). Close cancels the context given to running reloads.
package operator
