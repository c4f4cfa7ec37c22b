// Package redisadapter makes one Go process one peer of a Redis fleet,
// exactly as one Node server with @socket.io/redis-adapter 8.x (classic
// pub/sub mode, wire format in package redisproto): Node servers and Go
// peers on one Redis see each other's sockets, rooms and events.
//
//	peer, err := redisadapter.New(redisadapter.Options{URL: "redis://127.0.0.1:6379"})
//	io := socketio.NewServer(socketio.Options{Adapter: peer.Adapter})
//	...
//	io.Close(); peer.Close()
//
// Every socketio.Adapter operation spans the fleet: broadcasts (rooms,
// except, local, volatile, compress), socketsJoin/Leave, disconnectSockets,
// fetchSockets, serverSideEmit with and without acks, broadcasts with acks
// and a timeout, ServerCount (PUBSUB NUMSUB of the request channel, as Node
// counts) and AllRooms.
//
// Options.Mode sharded speaks createShardedAdapter instead (Redis 7
// SSUBSCRIBE/SPUBLISH, ClusterAdapter messages, room channels per
// Options.SubscriptionMode): Peer.Adapter then builds ShardedAdapters, and
// the Handler API (Subscribe, SetRequestWeight) is classic only.
//
// The Peer's connection half is usable without socketio: a Handler gets
// one namespace's messages (Subscribe), Publish and NumSub send; the
// socketio Adapter is one such Handler, and the primary's hub
// (hub.RedisBridge) is another; SetRequestWeight makes one Peer count as
// several servers, as a stickyd host of several workers does
// (docs/architecture.md, "Fleet (Redis)").
//
// Where it does better than the Node adapter:
//   - answers go to the requester's own response channel, not to every
//     server (their #407);
//   - pending requests and their timers are freed when they complete, time
//     out or the Peer closes (their PR #567); a request some servers do not
//     answer returns what arrived with an error wrapping socketio.ErrTimeout
//     (their #506, #527);
//   - join, leave and disconnect apply locally at once (Node waits for its
//     own message to come back from Redis);
//   - Redis down: local delivery goes on, Broadcast never blocks (a bounded
//     publish queue, dropped messages counted), fleet requests return local
//     results with ErrUnavailable at once; the subscriber reconnects with
//     backoff (50 ms to 1 s) and go-redis resubscribes every channel and
//     pattern. Stats exposes the counters; Collector exports them to
//     Prometheus.
//
// # Concurrency
//
// A Peer runs two goroutines: the subscriber (it decodes every message and
// applies it, in the order Redis delivered them) and the publisher (it
// sends queued messages in order, pipelined), plus one reader per passive
// subscriber of SetRequestWeight, each ended by Close or a lower weight. Messages of one peer are
// therefore applied elsewhere in the order it sent them. All methods of
// Peer and Adapter are safe for concurrent use; socketio callbacks
// (onClientCount, onAck) are called without the adapter's lock held.
package redisadapter
