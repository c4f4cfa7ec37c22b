package redisadapter

import (
	"context"
	"encoding/json"
	"slices"
	"sync"

	"github.com/stickyd/stickyd/redisproto"
	"github.com/stickyd/stickyd/socketio"
)

// Adapter is the socketio.Adapter of one namespace on a Peer. Local rooms
// live in the embedded *socketio.InMemoryAdapter; every cluster-wide
// operation is applied here and published for the other servers of the
// fleet (Node servers with @socket.io/redis-adapter or other Go peers),
// which apply it to their own sockets.
type Adapter struct {
	*socketio.InMemoryAdapter
	peer *Peer
	nsp  *socketio.Namespace
	name string
	ch   redisproto.Channels
	wire wire // the wire mode's server count and requests

	mu       sync.Mutex
	requests map[string]*request
	seq      uint64
	closed   bool
}

var _ socketio.Adapter = (*Adapter)(nil)

func newAdapter(p *Peer, nsp *socketio.Namespace) *Adapter {
	a := &Adapter{
		InMemoryAdapter: socketio.NewInMemoryAdapter(nsp),
		peer:            p, nsp: nsp, name: nsp.Name(), ch: redisproto.NewChannels(p.opts.Prefix, nsp.Name()),
		requests: map[string]*request{},
	}
	a.wire = classicWire{a}
	return a
}

// handler is the Adapter as the Peer's Handler (unexported methods, so
// that Adapter's own API stays socketio's).
type handler struct{ a *Adapter }

func (h handler) HandleBroadcast(channel string, msg []byte) { h.a.onBroadcast(channel, msg) }
func (h handler) HandleRequest(msg []byte)                   { h.a.onRequest(msg) }
func (h handler) HandleResponse(msg []byte)                  { h.a.onResponse(msg) }
func (h handler) PeerClosed()                                { h.a.failPending() }

// Init subscribes the namespace's channels. It fails with
// ErrNamespaceTaken when the Peer already serves the namespace, and with
// ErrClosed after Close; Redis being down is not an error.
func (a *Adapter) Init() error { return a.peer.Subscribe(a.name, handler{a}) }

// Close unsubscribes and ends the adapter's pending requests with ErrClosed.
func (a *Adapter) Close() error {
	a.peer.Unsubscribe(a.name, handler{a})
	a.failPending()
	return nil
}

// Broadcast delivers p to the target sockets here and publishes it for
// the other servers (unless opts.Flags.Local). It never waits for Redis.
func (a *Adapter) Broadcast(p *socketio.Packet, opts socketio.BroadcastOptions) {
	a.InMemoryAdapter.Broadcast(p, opts)
	if opts.Flags.Local {
		return
	}
	msg, err := redisproto.EncodeBroadcast(a.peer.uid, p, opts)
	if err != nil {
		a.peer.log.Warn("broadcast not published", "nsp", a.name, "error", err)
		return
	}
	a.peer.Publish(a.ch.BroadcastChannel(opts.Rooms), msg, opts.Flags.Volatile)
}

// AddSockets makes the target sockets join rooms, here at once and on the
// other servers (Node applies it when its own request comes back; this
// adapter applies it before publishing and ignores the echo). It returns
// once Redis has the request (at most the request timeout; at once while
// Redis is down), so a broadcast any server publishes afterwards reaches
// the sockets that joined. DelSockets and DisconnectSockets likewise.
func (a *Adapter) AddSockets(opts socketio.BroadcastOptions, rooms []string) {
	a.InMemoryAdapter.AddSockets(opts, rooms)
	a.publishMembership(membershipJoin, opts, rooms, false)
}

// DelSockets makes the target sockets leave rooms, here and elsewhere.
func (a *Adapter) DelSockets(opts socketio.BroadcastOptions, rooms []string) {
	a.InMemoryAdapter.DelSockets(opts, rooms)
	a.publishMembership(membershipLeave, opts, rooms, false)
}

// DisconnectSockets disconnects the target sockets, here and elsewhere.
func (a *Adapter) DisconnectSockets(opts socketio.BroadcastOptions, close bool) {
	a.InMemoryAdapter.DisconnectSockets(opts, close)
	a.publishMembership(membershipDisconnect, opts, nil, close)
}

// publishMembership publishes a join, leave or disconnect (unless
// opts.Flags.Local) and waits until Redis has it.
func (a *Adapter) publishMembership(op membership, opts socketio.BroadcastOptions, rooms []string, close bool) {
	if opts.Flags.Local {
		return
	}
	channel, msg, err := a.wire.encodeMembership(op, socketio.BroadcastOptions{Rooms: nonNil(opts.Rooms), Except: nonNil(opts.Except)}, nonNil(rooms), close)
	if err != nil {
		a.peer.log.Warn("request not published", "nsp", a.name, "op", op, "error", err)
		return
	}
	a.peer.PublishAndWait(channel, msg)
}

func (a *Adapter) publishEncoded(r *redisproto.Request) bool {
	msg, err := redisproto.EncodeRequest(r)
	if err != nil {
		a.peer.log.Warn("request not published", "nsp", a.name, "type", r.Type, "error", err)
		return false
	}
	a.peer.Publish(a.ch.Request, msg, false)
	return true
}

// ServerCount is the number of servers subscribed to the namespace's
// request channel (PUBSUB NUMSUB, as Node counts; in sharded mode PUBSUB
// SHARDNUMSUB of the main channel). With Redis down it returns 1 and an
// error wrapping ErrUnavailable.
func (a *Adapter) ServerCount(ctx context.Context) (int, error) {
	n, err := a.wire.servers(ctx)
	if err != nil {
		return 1, err
	}
	return max(n, 1), nil
}

// AllRooms lists every room with a member on any server of the fleet,
// sorted. Like FetchSockets, it returns what it got and an error when some
// servers did not answer in time or Redis is down.
func (a *Adapter) AllRooms(ctx context.Context) ([]string, error) {
	rooms := a.InMemoryAdapter.Rooms()
	r, err := a.startRequest(ctx, redisproto.TypeAllRooms, func(id string) bool {
		return a.publishEncoded(&redisproto.Request{UID: a.peer.uid, RequestID: id, Type: redisproto.TypeAllRooms})
	})
	if r != nil {
		var remote []string
		remote, err = a.waitRooms(ctx, r)
		rooms = append(rooms, remote...)
	}
	slices.Sort(rooms)
	return slices.Compact(rooms), err
}

// Rooms lists nsp's rooms fleet-wide when its adapter is this package's
// (see AllRooms), this process's rooms otherwise.
func Rooms(ctx context.Context, nsp *socketio.Namespace) ([]string, error) {
	if a, ok := nsp.Adapter().(*Adapter); ok {
		return a.AllRooms(ctx)
	}
	rooms := nsp.Adapter().Rooms()
	slices.Sort(rooms)
	return rooms, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// jsonNull is the answer of an ack without arguments.
var jsonNull = json.RawMessage("null")
