package redisadapter

import (
	"context"
	"slices"
	"sync"

	"github.com/stickyd/stickyd/redisproto"
	"github.com/stickyd/stickyd/socketio"
)

// ShardedAdapter is the socketio.Adapter of one namespace on a Peer in
// sharded mode: it speaks @socket.io/redis-adapter 8.3.0's
// createShardedAdapter (ClusterAdapter messages over SSUBSCRIBE and
// SPUBLISH, Redis ≥ 7). It is an Adapter whose requests and server count
// (PUBSUB SHARDNUMSUB of the main channel) go over the sharded wire
// (FetchSockets, ServerSideEmit, BroadcastWithAck, ServerCount and
// AddSockets, DelSockets, DisconnectSockets are Adapter's); the other
// socketio.Adapter methods are its own.
//
// Room channels follow Options.SubscriptionMode: a local room gets its
// channel SSUBSCRIBEd when its first socket joins (public rooms in dynamic
// mode, every room in dynamic-private mode, none in static mode) and
// SUNSUBSCRIBEd when its last one leaves.
//
// # Concurrency
//
// Safe for concurrent use. Incoming messages run on the Peer's subscriber
// goroutine; (un)subscribing a room channel happens on the caller's
// goroutine, serialised by roomsMu, and waits for Redis at most
// subscribeTimeout.
type ShardedAdapter struct {
	*Adapter
	sch redisproto.ShardedChannels

	roomsMu sync.Mutex
	rooms   map[string]bool // rooms whose channel is subscribed
}

var _ socketio.Adapter = (*ShardedAdapter)(nil)

func newShardedAdapter(p *Peer, nsp *socketio.Namespace) *ShardedAdapter {
	a := &ShardedAdapter{Adapter: newAdapter(p, nsp), sch: redisproto.NewShardedChannels(p.opts.Prefix, nsp.Name()), rooms: map[string]bool{}}
	a.Adapter.wire = shardedWire{a}
	return a
}

// shardedHandler is the ShardedAdapter as the Peer's Handler: only
// PeerClosed is used (messages go to deliver).
type shardedHandler struct{ a *ShardedAdapter }

func (shardedHandler) HandleBroadcast(string, []byte) {}
func (shardedHandler) HandleRequest([]byte)           {}
func (shardedHandler) HandleResponse([]byte)          {}
func (h shardedHandler) PeerClosed()                  { h.a.failPending() }

// Init SSUBSCRIBEs the namespace's main and private channels. Errors as
// Adapter.Init.
func (a *ShardedAdapter) Init() error {
	return a.peer.subscribeSharded(a.name, shardedHandler{a}, a.deliver)
}

// Close unsubscribes every channel and ends the pending requests with
// ErrClosed.
func (a *ShardedAdapter) Close() error {
	a.roomsMu.Lock()
	channels := make([]string, 0, len(a.rooms))
	for room := range a.rooms {
		channels = append(channels, a.sch.Room(room))
	}
	clear(a.rooms)
	a.roomsMu.Unlock()
	a.peer.unsubscribeSharded(a.name, shardedHandler{a}, channels)
	a.failPending()
	return nil
}

// AddAll adds local socket id to rooms and subscribes the channels of
// rooms it creates (per the subscription mode).
func (a *ShardedAdapter) AddAll(id string, rooms []string) {
	a.InMemoryAdapter.AddAll(id, rooms)
	for _, room := range rooms {
		if a.roomHasChannel(room, room != id) {
			a.followRoom(room)
		}
	}
}

// Del removes socket id from room and unsubscribes the room's channel
// when the room is gone.
func (a *ShardedAdapter) Del(id, room string) {
	a.InMemoryAdapter.Del(id, room)
	a.unfollowIfEmpty(room)
}

// DelAll removes socket id from every room, unsubscribing the channels of
// the rooms that are gone.
func (a *ShardedAdapter) DelAll(id string) {
	rooms := a.InMemoryAdapter.SocketRooms(id)
	a.InMemoryAdapter.DelAll(id)
	for _, room := range rooms {
		a.unfollowIfEmpty(room)
	}
}

// roomHasChannel reports whether room gets its own channel in the
// subscription mode (Node's shouldUseASeparateNamespace).
func (a *ShardedAdapter) roomHasChannel(room string, public bool) bool {
	switch a.peer.opts.SubscriptionMode {
	case redisproto.SubscriptionDynamicPrivate:
		return true
	case redisproto.SubscriptionDynamic:
		return public
	}
	return false
}

func (a *ShardedAdapter) followRoom(room string) {
	a.roomsMu.Lock()
	defer a.roomsMu.Unlock()
	if a.rooms[room] {
		return
	}
	a.rooms[room] = true
	a.peer.shardedRoom(a.name, a.sch.Room(room), true)
}

func (a *ShardedAdapter) unfollowIfEmpty(room string) {
	a.roomsMu.Lock()
	defer a.roomsMu.Unlock()
	if !a.rooms[room] || len(a.InMemoryAdapter.Sockets([]string{room})) > 0 {
		return
	}
	delete(a.rooms, room)
	a.peer.shardedRoom(a.name, a.sch.Room(room), false)
}

// publish encodes m (uid and nsp filled in) and queues it on the channel
// Node would use.
func (a *ShardedAdapter) publish(m *redisproto.ClusterMessage, volatile bool) bool {
	m.UID, m.NSP = a.peer.uid, a.name
	msg, err := redisproto.EncodeCluster(m)
	if err != nil {
		a.peer.log.Warn("message not published", "nsp", a.name, "type", m.Type, "error", err)
		return false
	}
	a.peer.Publish(a.sch.BroadcastChannel(m, a.peer.opts.SubscriptionMode), msg, volatile)
	return true
}

// respond publishes a response on the requester's private channel.
func (a *ShardedAdapter) respond(uid string, m *redisproto.ClusterMessage) {
	m.UID, m.NSP = a.peer.uid, a.name
	msg, err := redisproto.EncodeCluster(m)
	if err != nil {
		a.peer.log.Warn("response not published", "nsp", a.name, "type", m.Type, "error", err)
		return
	}
	a.peer.Publish(a.sch.Private(uid), msg, false)
}

// Broadcast delivers p here and publishes it (unless opts.Flags.Local).
func (a *ShardedAdapter) Broadcast(p *socketio.Packet, opts socketio.BroadcastOptions) {
	a.InMemoryAdapter.Broadcast(p, opts)
	if opts.Flags.Local {
		return
	}
	a.publish(&redisproto.ClusterMessage{Type: redisproto.ClusterBroadcast, Packet: p, Opts: wireOpts(opts)}, opts.Flags.Volatile)
}

// wireOpts are opts with non-nil room lists (Node reads their length).
func wireOpts(opts socketio.BroadcastOptions) socketio.BroadcastOptions {
	opts.Rooms, opts.Except = nonNil(opts.Rooms), nonNil(opts.Except)
	return opts
}

// AllRooms lists this server's rooms, sorted: the ClusterAdapter protocol
// has no request for the rooms of other servers.
func (a *ShardedAdapter) AllRooms(context.Context) ([]string, error) {
	rooms := a.InMemoryAdapter.Rooms()
	slices.Sort(rooms)
	return rooms, nil
}
