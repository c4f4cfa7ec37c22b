package socketio

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/stickyd/stickyd/engineio"
)

// InMemoryAdapter is the default Adapter, for a single process: rooms are
// maps, and every operation is applied to this process's sockets only.
// A cluster adapter embeds or wraps it and uses its methods to apply, on
// this server, operations that come from other servers. With connection
// state recovery on, it also keeps sessions and the broadcast packets they
// may miss (see recovery.go). Safe for concurrent use.
type InMemoryAdapter struct {
	nsp *Namespace
	rec *recoveryStore // nil unless recovery is on

	mu    sync.RWMutex
	rooms map[string]strSet // room -> socket ids (a socket's own room: one)
	sids  map[string]strSet // socket id -> rooms (its own id, a few more)
}

var _ Adapter = (*InMemoryAdapter)(nil)

// NewInMemoryAdapter returns the in-memory adapter of nsp.
func NewInMemoryAdapter(nsp *Namespace) *InMemoryAdapter {
	a := &InMemoryAdapter{nsp: nsp, rooms: map[string]strSet{}, sids: map[string]strSet{}}
	if r := nsp.RecoveryOptions(); r != nil {
		a.rec = newRecoveryStore(r.MaxDisconnectionDuration)
	}
	return a
}

// Namespace is the adapter's namespace.
func (a *InMemoryAdapter) Namespace() *Namespace { return a.nsp }

// Init does nothing.
func (a *InMemoryAdapter) Init() error { return nil }

// Close does nothing.
func (a *InMemoryAdapter) Close() error { return nil }

// AddAll adds socket id to rooms.
func (a *InMemoryAdapter) AddAll(id string, rooms []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	set := a.sids[id]
	for _, r := range rooms {
		set.add(r)
		m := a.rooms[r]
		m.add(id)
		a.rooms[r] = m
	}
	a.sids[id] = set
}

// Del removes socket id from room.
func (a *InMemoryAdapter) Del(id, room string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if set, ok := a.sids[id]; ok {
		set.del(room)
		a.sids[id] = set
	}
	a.delFromRoom(id, room)
}

func (a *InMemoryAdapter) delFromRoom(id, room string) {
	if m, ok := a.rooms[room]; ok {
		m.del(id)
		if m.len() == 0 {
			delete(a.rooms, room)
		} else {
			a.rooms[room] = m
		}
	}
}

// DelAll removes socket id from every room.
func (a *InMemoryAdapter) DelAll(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	set := a.sids[id]
	for r := range set.all {
		a.delFromRoom(id, r)
	}
	delete(a.sids, id)
}

// Rooms lists the rooms with at least one local socket.
func (a *InMemoryAdapter) Rooms() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]string, 0, len(a.rooms))
	for r := range a.rooms {
		out = append(out, r)
	}
	return out
}

// SocketRooms lists the rooms of socket id.
func (a *InMemoryAdapter) SocketRooms(id string) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	set, ok := a.sids[id]
	if !ok {
		return nil
	}
	return set.appendTo(make([]string, 0, set.len()))
}

// Sockets lists the local socket ids in any of rooms (all when empty).
func (a *InMemoryAdapter) Sockets(rooms []string) []string {
	return a.targets(BroadcastOptions{Rooms: rooms})
}

// targets computes the local socket ids selected by opts.
func (a *InMemoryAdapter) targets(opts BroadcastOptions) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if len(opts.Rooms) == 1 && len(opts.Except) == 0 {
		// The common broadcast: one room's members, nothing to merge.
		room := a.rooms[opts.Rooms[0]]
		return room.appendTo(make([]string, 0, room.len()))
	}
	except := map[string]struct{}{}
	for _, r := range opts.Except {
		set := a.rooms[r]
		for id := range set.all {
			except[id] = struct{}{}
		}
	}
	var out []string
	if len(opts.Rooms) == 0 {
		out = make([]string, 0, len(a.sids))
		for id := range a.sids {
			if _, ex := except[id]; !ex {
				out = append(out, id)
			}
		}
		return out
	}
	seen := map[string]struct{}{}
	for _, r := range opts.Rooms {
		set := a.rooms[r]
		for id := range set.all {
			if _, ex := except[id]; ex {
				continue
			}
			if _, dup := seen[id]; dup {
				continue
			}
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out
}

// apply calls fn for each connected local socket selected by opts, outside
// the adapter's lock, with the flags its packets are written with: a
// volatile broadcast's, and deferred when there are several sockets, so
// their writes run on engineio's flusher goroutines (see
// engineio.SendDeferred) rather than one after another on this one.
func (a *InMemoryAdapter) apply(opts BroadcastOptions, fn func(*Socket, engineio.SendFlags)) {
	ids := a.targets(opts)
	var flags engineio.SendFlags
	if opts.Flags.Volatile {
		flags |= engineio.SendVolatile
	}
	if len(ids) > 1 {
		flags |= engineio.SendDeferred
	}
	for _, s := range a.nsp.socketsOf(ids) {
		if s.Connected() {
			fn(s, flags)
		}
	}
}

// Broadcast writes p to every selected local socket (encoded once). With
// recovery on, a non-volatile EVENT gets an offset appended and is stored.
func (a *InMemoryAdapter) Broadcast(p *Packet, opts BroadcastOptions) {
	if a.rec != nil {
		p = a.rec.record(p, opts)
	}
	a.apply(opts, func(s *Socket, flags engineio.SendFlags) {
		_ = s.write(p, flags)
	})
}

// BroadcastWithAck writes p with a fresh ack id to every selected local
// socket, registers onAck for each, calls onClientCount once with the
// number of sockets written to, and returns 1.
func (a *InMemoryAdapter) BroadcastWithAck(p *Packet, opts BroadcastOptions, onClientCount func(int), onAck func([]json.RawMessage)) int {
	id := a.nsp.nextAckID()
	p = p.WithID(id)
	n := 0
	a.apply(opts, func(s *Socket, flags engineio.SendFlags) {
		n++
		s.registerAck(id, func(args []json.RawMessage, err error) {
			if err == nil {
				onAck(args)
			}
		})
		_ = s.write(p, flags)
	})
	onClientCount(n)
	return 1
}

// AddSockets makes the selected local sockets join rooms.
func (a *InMemoryAdapter) AddSockets(opts BroadcastOptions, rooms []string) {
	a.apply(opts, func(s *Socket, _ engineio.SendFlags) { s.Join(rooms...) })
}

// DelSockets makes the selected local sockets leave rooms.
func (a *InMemoryAdapter) DelSockets(opts BroadcastOptions, rooms []string) {
	a.apply(opts, func(s *Socket, _ engineio.SendFlags) {
		for _, r := range rooms {
			s.Leave(r)
		}
	})
}

// DisconnectSockets disconnects the selected local sockets.
func (a *InMemoryAdapter) DisconnectSockets(opts BroadcastOptions, close bool) {
	a.apply(opts, func(s *Socket, _ engineio.SendFlags) { s.Disconnect(close) })
}

// FetchSockets describes the selected local sockets.
func (a *InMemoryAdapter) FetchSockets(_ context.Context, opts BroadcastOptions) ([]SocketInfo, error) {
	var out []SocketInfo
	a.apply(opts, func(s *Socket, _ engineio.SendFlags) { out = append(out, s.info()) })
	return out, nil
}

// ServerSideEmit has no other server to reach: (nil, nil).
func (a *InMemoryAdapter) ServerSideEmit(context.Context, []json.RawMessage, bool) ([]json.RawMessage, error) {
	return nil, nil
}

// ServerCount is 1.
func (a *InMemoryAdapter) ServerCount(context.Context) (int, error) { return 1, nil }

// PersistSession stores s (recovery on; otherwise a no-op).
func (a *InMemoryAdapter) PersistSession(s *Session) {
	if a.rec != nil {
		a.rec.persist(s)
	}
}

// RestoreSession returns and forgets session pid with the packets it
// missed after offset; (nil, nil) when unknown, expired or offset unknown.
func (a *InMemoryAdapter) RestoreSession(pid, offset string) (*Session, error) {
	if a.rec == nil {
		return nil, nil
	}
	return a.rec.restore(pid, offset), nil
}

// info describes the socket for FetchSockets.
func (s *Socket) info() SocketInfo {
	data := json.RawMessage("null")
	if v := s.Data(); v != nil {
		if j, err := marshalJSON(v); err == nil {
			data = j
		}
	}
	return SocketInfo{ID: s.id, Handshake: s.Handshake(), Rooms: s.Rooms(), Data: data, local: s}
}
