package adapter

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/stickyd/stickyd/hub"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/socketio"
)

// Adapter is the socketio.Adapter of one namespace in a stickyd cluster. It
// keeps local rooms in an embedded *socketio.InMemoryAdapter, announces to
// the hub when a room gets its first local member and when its last one
// leaves (a socket's own id is a room, so To(id) reaches the socket on any
// worker), and relays cluster operations through the hub to the workers
// that have members of the target rooms. Other workers apply them with
// their own local adapter; except-rooms are applied there.
//
// Connection state recovery works across workers (Node's cluster adapter
// does not support it): a client that reconnects to any worker gets its
// session back from the worker where it disconnected, which holds the
// session's rooms announced meanwhile so that its missed packets are
// complete. See KeepSession, PersistSession and RestoreSession.
type Adapter struct {
	*socketio.InMemoryAdapter
	c    *Cluster
	nsp  *socketio.Namespace
	name string

	mu     sync.Mutex              // serialises membership changes with their announcements
	counts map[string]int          // room -> local members + sessions holding it
	kept   map[string]*keptSession // pid -> persisted session whose rooms are held
	inited bool
}

var _ socketio.Adapter = (*Adapter)(nil)

func newAdapter(c *Cluster, nsp *socketio.Namespace) *Adapter {
	return &Adapter{
		InMemoryAdapter: socketio.NewInMemoryAdapter(nsp),
		c:               c,
		nsp:             nsp,
		name:            nsp.Name(),
		counts:          make(map[string]int),
		kept:            make(map[string]*keptSession),
	}
}

// Init registers the namespace with the hub. It fails with
// ErrNamespaceTaken when this Cluster already serves it.
func (a *Adapter) Init() error {
	a.c.mu.Lock()
	if a.c.adapters[a.name] != nil {
		a.c.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNamespaceTaken, a.name)
	}
	a.c.adapters[a.name] = a
	a.c.mu.Unlock()
	a.mu.Lock()
	a.inited = true
	a.c.link.Send(&ipc.HubMessage{Type: ipc.HubRooms, Nsp: a.name, Deltas: []ipc.RoomDelta{{Op: ipc.NspJoin}}}, false)
	a.mu.Unlock()
	return nil
}

// Close withdraws the namespace (and its rooms) from the hub and stops
// holding the rooms of persisted sessions (they can no longer be restored
// from another worker).
func (a *Adapter) Close() error {
	a.releaseAll()
	a.c.mu.Lock()
	if a.c.adapters[a.name] == a {
		delete(a.c.adapters, a.name)
	}
	a.c.mu.Unlock()
	a.mu.Lock()
	if a.inited {
		a.inited = false
		a.c.link.Send(&ipc.HubMessage{Type: ipc.HubRooms, Nsp: a.name, Deltas: []ipc.RoomDelta{{Op: ipc.NspLeave}}}, false)
	}
	a.mu.Unlock()
	return nil
}

// AddAll adds local socket id to rooms and announces rooms new to this
// worker. When it announces a room other than the socket's own id, it
// waits (one hub round trip, at most a second) until the hub has indexed
// it, so that every broadcast issued after AddAll returns, by any worker,
// reaches the socket. Applied on behalf of another worker, it does not
// wait (the hub indexed the rooms when it routed that operation).
func (a *Adapter) AddAll(id string, rooms []string) {
	if barrier := a.addAll(id, rooms); barrier != nil {
		a.c.link.AwaitSync(barrier)
	}
}

func (a *Adapter) addAll(id string, rooms []string) <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	had := a.InMemoryAdapter.SocketRooms(id)
	a.InMemoryAdapter.AddAll(id, rooms)
	var deltas []ipc.RoomDelta
	for i, r := range rooms {
		if slices.Contains(had, r) || slices.Contains(rooms[:i], r) {
			continue
		}
		deltas = a.incr(deltas, r)
	}
	a.announce(deltas)
	if !a.inited || a.c.applying.Load() {
		return nil
	}
	for _, d := range deltas {
		if d.Room != id {
			return a.c.link.StartSync()
		}
	}
	return nil
}

// Del removes local socket id from room; announces the room's last leave.
func (a *Adapter) Del(id, room string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !slices.Contains(a.InMemoryAdapter.SocketRooms(id), room) {
		return
	}
	a.InMemoryAdapter.Del(id, room)
	a.announce(a.decr(nil, room))
}

// DelAll removes local socket id from every room.
func (a *Adapter) DelAll(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rooms := a.InMemoryAdapter.SocketRooms(id)
	a.InMemoryAdapter.DelAll(id)
	var deltas []ipc.RoomDelta
	for _, r := range rooms {
		deltas = a.decr(deltas, r)
	}
	a.announce(deltas)
}

// incr counts one more local holder of room; the first is announced.
func (a *Adapter) incr(deltas []ipc.RoomDelta, room string) []ipc.RoomDelta {
	a.counts[room]++
	if a.counts[room] == 1 {
		deltas = append(deltas, ipc.RoomDelta{Op: ipc.RoomAdd, Room: room})
	}
	return deltas
}

func (a *Adapter) decr(deltas []ipc.RoomDelta, room string) []ipc.RoomDelta {
	if a.counts[room] <= 1 {
		delete(a.counts, room)
		return append(deltas, ipc.RoomDelta{Op: ipc.RoomDel, Room: room})
	}
	a.counts[room]--
	return deltas
}

// announce sends room deltas; called with a.mu held so that deltas reach
// the hub in the order of the membership changes.
func (a *Adapter) announce(deltas []ipc.RoomDelta) {
	if len(deltas) == 0 || !a.inited {
		return
	}
	a.c.link.Send(&ipc.HubMessage{Type: ipc.HubRooms, Nsp: a.name, Deltas: deltas}, false)
}

// relay sends a fire-and-forget operation to the workers with members of
// opts.Rooms (all workers serving the namespace without rooms). With
// joins, the hub indexes those workers in joins at once.
func (a *Adapter) relay(opts socketio.BroadcastOptions, payload []byte, joins []string) {
	if opts.Flags.Local {
		return
	}
	m := ipc.HubMessage{Type: ipc.HubBroadcast, Nsp: a.name, Rooms: opts.Rooms, Payload: payload}
	if opts.Flags.Volatile {
		m.Flags |= ipc.HubVolatile
	}
	if joins != nil {
		m.Flags |= ipc.HubJoin
		m.JoinRooms = joins
	}
	a.c.link.Send(&m, opts.Flags.Volatile)
}

// Broadcast sends p to the target sockets here and on every other worker
// that has a member of a target room. It does not wait for the network;
// a volatile packet is dropped when the hub link's queue is full.
func (a *Adapter) Broadcast(p *socketio.Packet, opts socketio.BroadcastOptions) {
	a.InMemoryAdapter.Broadcast(p, opts)
	if opts.Flags.Local {
		return
	}
	b := []byte{hub.PayloadPacket, hub.EncodeFlags(opts.Flags)}
	b = hub.AppendList(b, opts.Except)
	a.relay(opts, hub.AppendPacket(b, p), nil)
}

// AddSockets makes the target sockets join rooms, here and elsewhere. A
// broadcast to rooms issued after it returns reaches the sockets that
// joined: the hub indexes the receiving workers in rooms when it routes
// the operation (each withdraws the rooms where no socket joined).
func (a *Adapter) AddSockets(opts socketio.BroadcastOptions, rooms []string) {
	a.InMemoryAdapter.AddSockets(opts, rooms)
	if rooms == nil {
		rooms = []string{}
	}
	a.relay(opts, hub.AppendList(hub.AppendList([]byte{hub.PayloadJoin}, opts.Except), rooms), rooms)
}

// DelSockets makes the target sockets leave rooms, here and elsewhere.
func (a *Adapter) DelSockets(opts socketio.BroadcastOptions, rooms []string) {
	a.InMemoryAdapter.DelSockets(opts, rooms)
	a.relay(opts, hub.AppendList(hub.AppendList([]byte{hub.PayloadLeave}, opts.Except), rooms), nil)
}

// DisconnectSockets disconnects the target sockets, here and elsewhere.
func (a *Adapter) DisconnectSockets(opts socketio.BroadcastOptions, close bool) {
	a.InMemoryAdapter.DisconnectSockets(opts, close)
	var cl byte
	if close {
		cl = 1
	}
	a.relay(opts, append(hub.AppendList([]byte{hub.PayloadDisconnect}, opts.Except), cl), nil)
}

// ServerCount is the number of live workers in the cluster.
func (a *Adapter) ServerCount(context.Context) (int, error) { return a.c.link.ServerCount(), nil }

// onBroadcast applies a fire-and-forget operation from another worker.
func (a *Adapter) onBroadcast(m *ipc.HubMessage) {
	r := hub.NewPayloadReader(m.Payload)
	opts := socketio.BroadcastOptions{Rooms: m.Rooms, Flags: socketio.BroadcastFlags{Local: true}}
	switch op := r.U8(); op {
	case hub.PayloadPacket:
		flags := hub.DecodeFlags(r.U8())
		opts.Except = r.Strs()
		p := r.Packet()
		if r.End() == nil {
			flags.Local = true
			opts.Flags = flags
			a.InMemoryAdapter.Broadcast(p, opts)
		}
	case hub.PayloadJoin, hub.PayloadLeave:
		opts.Except = r.Strs()
		rooms := r.Strs()
		if r.End() == nil {
			if op == hub.PayloadJoin {
				a.InMemoryAdapter.AddSockets(opts, rooms)
				if m.Flags&ipc.HubJoin != 0 {
					a.withdrawEmpty(rooms)
				}
			} else {
				a.InMemoryAdapter.DelSockets(opts, rooms)
			}
		}
	case hub.PayloadDisconnect:
		opts.Except = r.Strs()
		cl := r.U8()
		if r.End() == nil {
			a.InMemoryAdapter.DisconnectSockets(opts, cl == 1)
		}
	case hub.PayloadEmit:
		args := r.Raws()
		if r.End() == nil {
			a.nsp.DispatchServerSideEmit(args, nil)
		}
	default:
		r.Fail(fmt.Sprintf("unknown operation %d", op))
	}
	if r.Err() != nil {
		a.c.log.Error("bad operation from another worker dropped", "nsp", a.name, "from", m.Instance, "error", r.Err())
	}
}

// withdrawEmpty announces RoomDel for each of rooms without a local
// member: the hub indexed this worker in them when it routed a join.
func (a *Adapter) withdrawEmpty(rooms []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var deltas []ipc.RoomDelta
	for i, r := range rooms {
		if a.counts[r] == 0 && !slices.Contains(rooms[:i], r) {
			deltas = append(deltas, ipc.RoomDelta{Op: ipc.RoomDel, Room: r})
		}
	}
	a.announce(deltas)
}
