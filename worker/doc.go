// Package worker is the application side of stickyd: what a Go server links
// to receive the connections the primary routes to it.
//
// Under stickyd (STICKYD_SOCKET set), [Listen] dials the primary's control
// socket, introduces itself with the instance id and secret from the
// environment, and returns a [Listener] whose Accept yields the client
// connections the primary hands off, each delivering first the bytes the
// primary already consumed (none today: it peeks) and reporting the client's
// address. Without STICKYD_SOCKET the Listener is a plain TCP listener on
// $HOST:$PORT (port 3000 by default), so the same binary runs alone.
//
// [Listener.Handler] hands a kept-alive connection back to the primary when a
// request on it names a session (sid query parameter) owned by another
// worker instance; [Listener.GenerateID] issues sids that carry this
// instance's id; [Listener.EngineOptions] plugs both plus session counting
// into an engineio server. The Listener reports its load (sessions, live
// connections, connections received) to the primary, coalesced to at most
// one message per 5 ms, so least-connection balancing sees current numbers.
//
// Connections received and not yet accepted wait in a queue of at most
// Options.MaxAcceptQueue. While it is full the Listener stops reading its
// control link, which pushes back on the primary (its hand-offs to this
// worker wait in the link and count as in flight for its balancer); an
// app that accepts nothing for Options.AcceptQueueStall is taken to be
// stuck, and each further connection is answered 503 (Retry-After: 1)
// and closed until it accepts again. Listener.Counters counts both.
//
// When the primary goes away (the control link ends) the worker closes
// Draining, stops accepting and exits the process with status 1 within one
// second (Options.Exit replaces os.Exit in tests).
//
// # Concurrency
//
// Every Listener method is safe for concurrent use. Each Listener runs two
// goroutines while its control link is open: one receives messages from the
// primary (and waits, not reading, while the accept queue is full), one
// sends load reports. They end when the link closes: after
// Close once the last accepted connection is closed, or when the primary
// goes away. A Conn is safe for concurrent use like any net.Conn.
package worker
