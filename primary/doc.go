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
// In a fleet (Options.Fleet) instance ids carry the host id, so every sid
// names its host too: a request for another host's session is relayed to
// that host whole (spliced, behind a PROXY v2 header sealed with the
// fleet secret), relays from members are routed like clients, and a
// relayed connection that a worker hands back for a third host is given
// back to the host that relayed it (fleet.go, relay.go). Each relay runs
// on a goroutine of its own (two: one per direction) counted in the
// connection wait group; shutdown closes them.
//
// Workers talk to the primary over two Unix sockets in a private 0700
// directory (see docs/architecture.md): the control link (ipc.ControlConn,
// SOCK_SEQPACKET) and the hub link (ipc.FrameConn), which is handed to the
// hub (Options.Hub, a hub.Server; package hub relays the frames).
// Every link must come from our uid and open with the Hello of a live
// instance, secret included.
//
// The Supervisor respawns a worker that dies or misses its start timeout with
// capped exponential backoff, never exits because a worker did, and on
// shutdown drains the workers and then kills their process groups, so that
// nothing outlives it.
//
// # Metrics
//
// With Options.Metrics set to a Metrics (NewMetrics), the primary counts
// accepted connections, routing decisions by kind, hand-offs per worker
// slot and generation with their latency (accept to fd sent) and respawns
// (the hub registers its own metrics on the same registry); worker states,
// sessions and the reload generation are read from Status at scrape time.
// Metrics.Handler serves /metrics, /healthz and /readyz. Labels are
// resolved once per worker, so a hook on the accept or hand-off path is a
// few atomic adds; a nil *Metrics costs a nil check.
//
// Reload starts a new generation of workers and moves balancing to it once
// all are ready; sids of older generations keep reaching their workers
// until those are drained (see Supervisor.Reload and docs/operations.md).
// Options.Notifier (package internal/systemd) is told when the workers are
// ready, reloading or stopping; Supervisor.Report answers the operator
// socket's status command (package operator). The request line and the
// client address headers are parsed by packages httphead and proxyproto.
//
// # Node workers
//
// With Options.WorkerKind node (docs/node.md) the workers are unmodified
// Node apps using @socket.io/sticky: each is started with Node's IPC
// channel on fd 3 (package nodeipc) instead of the control and hub links,
// and a preload (nodeshim.js) that reports readiness once the app called
// setupWorker. A Node worker's link (nodeLink) implements the same
// workerLink as a control link: a Conn message queues the fd for a
// NODE_HANDLE hand-off, Drain is SIGTERM. Sids that do not name their
// instance are routed by a sid table the workers' sticky messages fill
// (nodesids.go), with a bounded wait for a registration still in flight;
// cluster-adapter messages go through Options.AdapterRelay.
//
// # Concurrency
//
// The accept loop never blocks on a client or a worker. The public
// listener has TCP_DEFER_ACCEPT, so a connection usually reaches accept
// with its request line: one non-blocking peek sees it, and the loop
// routes the connection and sends its fd with a non-blocking send
// (ipc.ControlConn.TrySend), on its own goroutine (the fast path). Any
// other connection (request line incomplete, a trusted proxy's, one the
// primary answers, a worker's control link full) is peeked, routed and
// handed off on a goroutine of its own under a per-connection deadline
// (the slow path; at most Options.MaxPeeking wait at once, one more is
// answered 503 at accept). One mutex, the routing lock (routingMu), guards
// the routing table and the balancer; Policy.Pick and the in-flight count
// of the chosen worker are updated under it, and no I/O happens under it.
// Other mutexes each guard one set: the slow-path connections, the TLS
// relays, the links not yet authenticated. Each control
// link has one reading goroutine; sends on it (hand-offs, Welcome, Drain)
// come from any goroutine (ipc.ControlConn.Send and TrySend are safe for
// concurrent use). Each slot has one supervising goroutine.
// Supervisor.Status is safe to call at any time. Metrics methods are safe
// for concurrent use and take no lock on hot paths; a scrape takes the
// routing lock once (Status). Reload is serialised and safe to call at any
// time; its trial slots, the old-generation drainers and the systemd notify
// loop are goroutines started under a lock with a running check
// (goroutineGroup), so none starts after shutdown and all end before Run
// returns. A Node link has three goroutines in nodeGoroutines (reader,
// hand-off, adapter writer), started with that check and ended by closing
// the link; its queues are guarded by the link's own mutex, and the sid
// table by the routing lock.
package primary
