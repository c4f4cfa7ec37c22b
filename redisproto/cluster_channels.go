package redisproto

// ShardedChannels are the sharded (SSUBSCRIBE/SPUBLISH) channels of one
// namespace: Main is "<prefix>#<nsp>#" (requests and broadcasts; its
// PUBSUB SHARDNUMSUB is the number of servers), a server's private
// response channel and the room channels append "<uid>#" or "<room>#".
type ShardedChannels struct{ Main string }

// NewShardedChannels returns the sharded channels of namespace nsp.
func NewShardedChannels(prefix, nsp string) ShardedChannels {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return ShardedChannels{Main: prefix + "#" + nsp + "#"}
}

// Private is the response channel of the server with uid uid.
func (c ShardedChannels) Private(uid string) string { return c.Main + uid + "#" }

// Room is the channel of a no-ack broadcast to exactly one room.
func (c ShardedChannels) Room(room string) string { return c.Main + room + "#" }

// LooksLikeSocketID is Node's test for a socket-id room (20 characters),
// whose broadcasts the "dynamic" subscription mode sends on Main.
func LooksLikeSocketID(room string) bool { return len(room) == 20 }

// SubscriptionMode is Node's subscriptionMode option of the sharded adapter.
type SubscriptionMode string

// Subscription modes: dynamic (default) gives every public room its own
// channel, dynamic-private socket-id rooms too, static none.
const (
	SubscriptionDynamic        SubscriptionMode = "dynamic"
	SubscriptionDynamicPrivate SubscriptionMode = "dynamic-private"
	SubscriptionStatic         SubscriptionMode = "static"
)

// BroadcastChannel is where m is published in mode: its room's channel for
// a broadcast without requestId to exactly one room (not a socket-id room
// in dynamic mode; never in static mode), Main otherwise.
func (c ShardedChannels) BroadcastChannel(m *ClusterMessage, mode SubscriptionMode) string {
	if m.Type != ClusterBroadcast || m.RequestID != "" || len(m.Opts.Rooms) != 1 {
		return c.Main
	}
	room := m.Opts.Rooms[0]
	if mode == SubscriptionDynamicPrivate || (mode == SubscriptionDynamic && !LooksLikeSocketID(room)) {
		return c.Room(room)
	}
	return c.Main
}
