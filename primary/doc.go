// Package primary is stickyd's primary process: it spawns and supervises
// the worker processes, accepts client connections, reads each one's first
// request line without consuming it (MSG_PEEK) and hands the connection's
// fd to the worker that owns the request's session, or to one chosen by the
// balancer when the request carries no session id.
//
// Routing is stateless: a session id names its worker instance in its first
// bytes (see ipc.SIDInstance), so a sid is routable the moment a worker has
// issued it. A sid whose instance is not live is answered by the primary
// itself with 400 {"code":1,"message":"Session ID unknown"}; no ready worker
// gives 503 with Retry-After: 1. A worker returns a kept-alive connection
// whose next request names another instance (HandBack); the primary
// re-routes it with the bytes the worker had consumed.
//
// Workers talk to the primary over two Unix sockets in a private 0700
// directory (see docs/architecture.md): the control link (ipc.ControlConn,
// SOCK_SEQPACKET) and the hub link (ipc.FrameConn), which is handed to a Hub.
// Every link must come from our uid and open with the Hello of a live
// instance, secret included.
//
// The Supervisor respawns a worker that dies or misses its start timeout with
// capped exponential backoff, never exits because a worker did, and on
// shutdown drains the workers and then kills their process groups, so that
// nothing outlives it.
//
// # Concurrency
//
// The accept loop only accepts: each connection is peeked, routed and handed
// off on its own goroutine under a per-connection deadline. One mutex, the
// routing lock, guards the instance table and the balancer; Policy.Pick and
// the in-flight count of the chosen worker are updated under it, and no I/O
// happens under it. Each control link has one reading goroutine; sends on it
// (hand-offs, Welcome, Drain) come from any goroutine (ipc.ControlConn.Send
// is safe for concurrent use). Each slot has one supervising goroutine.
// Supervisor.Status is safe to call at any time.
package primary
