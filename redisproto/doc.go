// Package redisproto is the wire format of Node's @socket.io/redis-adapter
// 8.x in its classic (pub/sub) mode, and of @socket.io/redis-emitter 5.x, so
// that Go peers (redisadapter) and Node servers share one Redis fleet.
//
// What travels on Redis:
//   - Channels (Channels): broadcasts on "<prefix>#<nsp>#" (all, or several
//     rooms) and "<prefix>#<nsp>#<room>#" (exactly one room), received with
//     PSUBSCRIBE "<prefix>#<nsp>#*"; requests on "<prefix>-request#<nsp>#"
//     (PUBSUB NUMSUB of it is the fleet's server count); responses on
//     "<prefix>-response#<nsp>#" and the requester's own
//     "<prefix>-response#<nsp>#<uid>#".
//   - Broadcasts (EncodeBroadcast, DecodeBroadcast): always msgpack (as
//     notepack.io writes it), the 3-array [uid, packet, opts] with packet
//     {type: 2, data: [event, ...args], nsp} and opts {rooms: [...],
//     except: [...], flags: {...}}.
//   - Requests and responses (Request, Response): JSON when the first byte
//     is '{', msgpack otherwise; types 0 to 9 (RequestType). Node sends JSON
//     except the BROADCAST request (type 7) and BROADCAST_ACK responses
//     (type 9), which may carry binary.
//   - Sharded mode (createShardedAdapter, Redis 7 SPUBLISH): ClusterMessage
//     {type, data, uid, nsp} of socket.io-adapter's ClusterAdapter, types 3
//     to 12 (ClusterType), JSON or the whole message msgpack when its data
//     holds binary (EncodeCluster, DecodeCluster), on the ShardedChannels
//     main, private and room channels per SubscriptionMode.
//
// Transcoding: stickyd holds a Socket.IO packet as JSON text with binary
// attachments (socketio.Packet). A msgpack bin value becomes an attachment
// and its place in the JSON a {"_placeholder":true,"num":n} object, and
// back. msgpack floats that are NaN or infinite become null (as
// JSON.stringify writes them), the timestamp extension (-1, a JavaScript
// Date) an ISO 8601 string with milliseconds, and extension 0 (undefined, as
// notepack.io 2.x writes it) null in an array and nothing in a map. Numbers
// are encoded as notepack.io does (the smallest integer format for integral
// values, float64 otherwise), so the encoders reproduce Node's bytes.
//
// Decoders never panic: garbage, truncated input, nesting deeper than
// MaxDepth, unknown request types and packets of another namespace give
// errors wrapping the sentinels of errors.go.
//
// # Concurrency
//
// Every function is safe for concurrent use; values are not shared after
// they are returned. Decoded packets share nothing with the input message.
package redisproto
