// Package socketio is a Socket.IO protocol v5 server (the protocol of
// Node's socket.io 4.x) on top of package engineio. The official
// socket.io-client 4.x talks to it as to Node's server.
//
//	io := socketio.NewServer(socketio.Options{})
//	io.Use(func(s *socketio.Socket) error { ... })            // middlewares
//	io.OnConnection(func(s *socketio.Socket) {
//		s.Join("lobby")
//		s.On("chat", func(msg string, ack func(...any)) {
//			s.To("lobby").Emit("chat", msg)                     // broadcast, not to self
//			if ack != nil { ack("ok") }
//		})
//	})
//	http.Handle("/socket.io/", io)
//
// # Packets
//
// The codec (Packet, PacketFromEncoded, the decoder) follows
// socket.io-parser v4 strictly: unknown types, bad attachment headers, ack
// ids beyond 2^53-1, payloads that are not valid JSON or not of the shape
// the type requires, reserved event names, more binary attachments than
// Options.MaxAttachments, and placeholders naming a missing attachment are
// parse errors; the client is closed with reason "parse error". Arguments
// are kept as the JSON the peer sent (json.RawMessage), so pass-through
// keeps key order; Go values are encoded as JSON.stringify would (no HTML
// escaping). Top-level []byte arguments of Emit become binary attachments;
// incoming attachments reach handlers as base64 JSON strings at the
// placeholder's position, so they decode into []byte parameters or fields.
//
// # Handlers
//
// Socket.On accepts a RawHandler, func(args []json.RawMessage, ack AckFunc),
// or any func whose parameters are decoded from the event's arguments in
// order, optionally ending with an ack parameter (AckFunc, func(...any) or
// func(...any) error; nil when the client asked for no ack).
//
// # Adapters
//
// Room membership and every operation that must reach all servers of a
// cluster go through the namespace's Adapter (see its contract). The
// default InMemoryAdapter serves one process; a cluster adapter embeds it
// to apply operations received from other servers.
//
// # Connection state recovery
//
// With Options.ConnectionStateRecovery, CONNECT is answered with
// {"sid":..,"pid":..}; every non-volatile broadcast EVENT without ack gets
// an offset appended as its last argument (as Node does; the client keeps
// the last one) and is kept for MaxDisconnectionDuration. A socket that
// disconnects for a recoverable reason (transport close/error, ping
// timeout, forced close, server shutting down, forced server close) is
// persisted; a client that reconnects within the window with auth
// {"pid":..,"offset":..} gets its id, pid, rooms and Data back, then the
// broadcasts it missed, and Socket.Recovered reports true. A connecting
// socket is in its rooms before its CONNECT answer goes out (as in Node),
// and what is written to it meanwhile waits behind the answer and the
// missed packets, so nothing overtakes them. Unlike Node,
// the missed packets are sent after the middlewares accepted the socket
// (unless SkipMiddlewares) and after the CONNECT answer; the client buffers
// them either way. Recovery state lives in the in-memory adapter of the
// process that served the socket; a cluster adapter restores a session
// held by another server (it asks the cluster when RestoreSession misses
// locally, keeps the rooms of persisted sessions announced through
// SessionKeeper, and uses DropSession and AdoptOffset).
//
// # Disconnect reasons
//
// Handlers registered with Socket.OnDisconnect get Node's reasons:
// "client namespace disconnect", "server namespace disconnect" (also for
// every socket of a client closed with Disconnect(true)), "forced server
// close" (invalid packet sequence, connect timeout), "parse error"
// (malformed packet; Node's own server reports "forced close" there),
// "server shutting down", and the engine's reasons ("transport close",
// "transport error", "ping timeout", "forced close").
//
// # Concurrency
//
// Every exported method is safe for concurrent use.
//
// Each Socket runs its handlers one at a time, in order: the namespace's
// middlewares and connection handlers (so handlers registered in
// OnConnection see every event), then the socket's event handlers (OnAny
// first) in the order the packets arrived, then its disconnecting and
// disconnect handlers. Handlers of different sockets run in parallel. A
// busy websocket client's event (one that follows its previous event
// within a second) that finds its socket with nothing else to run is
// handled right on the connection's reader goroutine, with no hand-off;
// otherwise (polling, middlewares, a queue, an idle client's event) a
// handler goroutine runs, which exists only while there is work, so an
// idle connection keeps a small reader stack. A handler may block (for
// instance on EmitWithAck): acks are resolved on the read path, and the
// reader does not wait for a handler that waits for an ack or runs longer
// than 10 ms (it goes on on a new goroutine), so waiting never deadlocks;
// but while a handler blocks, that socket's later events wait, at most
// Options.MaxQueuedEvents of them: a further event makes the reader wait
// for room (the client is slowed down through TCP, and the client's other
// namespaces wait too), and when no handler of the socket finishes within
// Options.EventQueueStall the client is disconnected with reason
// ReasonEventQueueFull (Server.Counters counts both). A handler that
// panics is recovered and logged.
//
// Server-side emit handlers (OnServerSideEmit) run on one goroutine per
// namespace, in arrival order.
//
// A disconnect takes effect at once (Emit returns ErrDisconnected, pending
// EmitWithAck calls return ErrDisconnected, broadcasts skip the socket);
// the disconnecting/disconnect handlers run after the events already
// queued. Server.Close waits for running handlers to return, so it must
// not be called from a handler.
//
// Broadcasts encode a packet once and queue the same engineio.Frame on
// every target socket; writes never block on the network.
package socketio
