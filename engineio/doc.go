// Package engineio is an Engine.IO protocol v4 server (the transport layer of
// Socket.IO) that behaves on the wire as Node's engine.io 6.6: the official
// JavaScript client cannot tell them apart.
//
// A Server is an http.Handler for Options.Path. It speaks HTTP long-polling
// (GET to receive, POST to send; payload records joined by 0x1e, binary as
// "b"+base64) and WebSocket (gorilla/websocket), upgrades a polling session
// to WebSocket ("2probe"/"3probe", a "6" noop to release the pending GET,
// "5" to switch) and accepts websocket-only sessions. The server sends pings
// ("2") every PingInterval and closes a session whose pong ("3") does not
// arrive within PingTimeout ("ping timeout").
//
// Refused requests get Node's answers: 400 {"code":0,"message":"Transport
// unknown"}, {"code":1,...} unknown sid, {"code":2,...} bad handshake method,
// {"code":3,...} bad request, 403 {"code":4,...} forbidden, {"code":5,...}
// unsupported protocol version; a refused websocket upgrade gets 400
// text/html with the message and the connection closed. Close reasons are
// Node's: "transport close", "transport error", "ping timeout", "parse
// error", "forced close", plus "server shutting down" for Shutdown.
//
// Messages go out as Frames, encoded once however many sockets they go to:
// over websocket the Frame's bytes are written as they are, behind a frame
// header of a few bytes per socket (server frames are neither masked nor
// compressed), so a broadcast copies no payload; polling caches the
// Frame's record.
//
// # Deviations from Node
//
//   - A POST over MaxHTTPBufferSize gets 413 and closes the session
//     ("transport error"); Node answers 413 and leaves the session to time out.
//   - A malformed POST payload gets 400 (Node destroys the connection); both
//     close the session with "parse error".
//   - Invalid base64 in a binary record is a parse error (Node decodes
//     leniently).
//   - No HTTP compression of polling responses and no permessage-deflate.
//   - After Close or Shutdown, handshakes get 503
//     {"code":3,"message":"Server shutting down"}.
//
// # Platforms
//
// The package builds and passes its tests on every OS Go supports. On Linux
// a websocket batch is written with raw write(2)/writev(2) system calls on
// the socket's non-blocking fd (internal/rawsys), at once on the sender's
// goroutine when the socket takes it (wsbatch_linux.go). Other OSes, and
// Linux with the stickyd_portable build tag, write every batch from the
// session's writer goroutine with the connection's own Write (net.Buffers
// for a plain socket: writev, or WSASend on Windows), the path TLS
// connections take on Linux too (wsbatch_other.go). Frames, their order,
// deadlines and close reasons are the same on both paths.
//
// # Concurrency
//
// Every Server and Socket method is safe for concurrent use. Each Socket has
// one mutex guarding its state and outgoing queue; it is never held while
// calling user code or touching the network.
//
// Goroutines: an idle polling session owns none (ping, pong, upgrade and
// close timers are time.AfterFunc); a pending GET blocks the net/http
// goroutine serving it until frames are queued, the session closes or the
// client goes away. A busy websocket session owns one reader goroutine
// (the upgrade request's handler returns, so net/http's buffers are
// released); on Linux a reader that waited a second (wsIdleAfter) for a
// message parks the connection in the server's readPoller, an epoll set
// waited on by one goroutine that exists while any connection is parked,
// and ends; bytes, a hang-up or the session's close start a new reader
// (readpoll_linux.go). Elsewhere, and over TLS, the reader stays.
// Its writes are made by whoever holds its write token: Socket.Write on an
// idle websocket writes on the caller's goroutine with a non-blocking
// write (a writev when a large payload is referenced, see wsBatch); a
// SendDeferred write (a broadcast), a pong or a close frame is written the
// same way by the server's flusher, one goroutine per GOMAXPROCS that
// exists while it has sockets to write. Only bytes the socket does not
// take at once go to a writer goroutine of the session, which batches
// everything queued meanwhile into one write and exits when the queue is
// empty. An idle websocket session therefore costs no goroutine on Linux
// (one elsewhere), a 512-byte read buffer and no write buffer.
// (Inline writes are Linux's: elsewhere, see Platforms, the writer
// goroutine writes every batch.)
//
// Socket.Write, WriteBatch and WriteVolatile never block on the network;
// the queue is bounded by Options.MaxBufferedBytes.
//
// Callbacks: OnConnection handlers run on the handshake request's goroutine,
// before the handshake response is written. OnMessage is called serially,
// in arrival order, from the read path (a POST handler or the websocket
// reader); a slow handler delays reading for its session only, unless it
// calls Socket.ReleaseReader: the websocket reader then goes on on a new
// goroutine (InReaderCallback tells a callback whether it runs there). OnClose
// handlers run once, on the goroutine that closed the session: a read path,
// a timer, Server.Close/Shutdown, or a fresh goroutine when the close came
// from Socket.Close or a Write past MaxBufferedBytes (so those may be called
// with locks held that the handlers take). Callbacks may call any Socket or
// Server method.
package engineio
