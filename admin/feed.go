package admin

import (
	"encoding/json"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/stickyd/stickyd/socketio"
)

// onSocket returns the connection handler of a watched namespace: it
// sends socket_connected, then the socket's received events, transport
// upgrade and disconnection.
func (a *Admin) onSocket(ns *socketio.Namespace) func(*socketio.Socket) {
	name := ns.Name()
	return func(s *socketio.Socket) {
		view := viewOf(s, name)
		a.rooms.seed(name, s.ID(), view.Rooms)
		a.events.push("rawConnection", "")
		_ = a.nsp.Emit("socket_connected", view, jsDate(time.Now()))
		id := s.ID()
		conn, key := s.Conn(), socketKey{name, id}
		s.OnAny(func(event string, args []json.RawMessage) {
			a.events.push("packetsIn", "")
			ev, _ := json.Marshal(event)
			all := append([]json.RawMessage{ev}, args...)
			_ = a.nsp.Emit("event_received", name, id, all, jsDate(time.Now()))
		})
		if conn.Transport() == "polling" { // a websocket connection never upgrades
			a.upgrades.add(conn, key, func(keys []socketKey) {
				for _, k := range keys {
					_ = a.nsp.Emit("socket_updated", map[string]string{"id": k.id, "nsp": k.nsp, "transport": conn.Transport()})
				}
			})
		}
		s.OnDisconnect(func(reason string) {
			a.upgrades.remove(conn, key, reason != "client namespace disconnect")
			a.rooms.forget(name, id)
			a.events.push("rawDisconnection", reason)
			_ = a.nsp.Emit("socket_disconnected", name, id, reason, jsDate(time.Now()))
		})
	}
}

// aggregatedEvent counts events of one type in one second.
type aggregatedEvent struct {
	Timestamp int64  `json:"timestamp"` // Unix ms, whole second
	Type      string `json:"type"`
	SubType   string `json:"subType,omitempty"`
	Count     int    `json:"count"`
}

// eventBuffer gathers the counts sent with the next stats.
type eventBuffer struct {
	mu     sync.Mutex
	counts map[aggregatedEvent]int
}

func (b *eventBuffer) push(typ, subType string) {
	key := aggregatedEvent{Timestamp: time.Now().Truncate(time.Second).UnixMilli(), Type: typ, SubType: subType}
	b.mu.Lock()
	if b.counts == nil {
		b.counts = map[aggregatedEvent]int{}
	}
	b.counts[key]++
	b.mu.Unlock()
}

// drain returns the counts gathered and clears them.
func (b *eventBuffer) drain() []aggregatedEvent {
	b.mu.Lock()
	counts := b.counts
	b.counts = nil
	b.mu.Unlock()
	out := make([]aggregatedEvent, 0, len(counts))
	for k, n := range counts {
		k.Count = n
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Timestamp < out[j].Timestamp })
	return out
}

// namespaceStats is one namespace's line in server_stats.
type namespaceStats struct {
	Name         string `json:"name"`
	SocketsCount int    `json:"socketsCount"`
}

// serverStats is what server_stats carries.
type serverStats struct {
	ServerID            string            `json:"serverId"`
	Hostname            string            `json:"hostname"`
	PID                 int               `json:"pid"`
	Uptime              float64           `json:"uptime"`
	ClientsCount        int               `json:"clientsCount"`
	PollingClientsCount int               `json:"pollingClientsCount"`
	AggregatedEvents    []aggregatedEvent `json:"aggregatedEvents"`
	Namespaces          []namespaceStats  `json:"namespaces"`
}

// stats describes this server now and drains the event counts.
func (a *Admin) stats() serverStats {
	host, _ := os.Hostname()
	st := serverStats{
		ServerID: a.opts.ServerID, Hostname: host, PID: os.Getpid(),
		Uptime:       time.Since(a.started).Seconds(),
		ClientsCount: a.io.Engine().ClientsCount(), AggregatedEvents: a.events.drain(),
	}
	polling := map[string]bool{}
	for _, ns := range append(a.watchedList(), a.nsp) {
		sockets := ns.Sockets()
		st.Namespaces = append(st.Namespaces, namespaceStats{Name: ns.Name(), SocketsCount: len(sockets)})
		for _, s := range sockets {
			if s.Conn().Transport() == "polling" {
				polling[s.Conn().ID()] = true
			}
		}
	}
	st.PollingClientsCount = len(polling)
	return st
}

// watchedList is the watched namespaces sorted by name.
func (a *Admin) watchedList() []*socketio.Namespace {
	list := make([]*socketio.Namespace, 0, len(a.watched))
	for _, ns := range a.watched {
		list = append(list, ns)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name() < list[j].Name() })
	return list
}

func (a *Admin) statsLoop() {
	ticker := time.NewTicker(a.opts.StatsInterval)
	defer ticker.Stop()
	for {
		_ = a.nsp.Emit("server_stats", a.stats())
		select {
		case <-a.ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (a *Admin) roomScanLoop() {
	ticker := time.NewTicker(a.opts.RoomScanInterval)
	defer ticker.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-ticker.C:
		}
		a.scanRooms()
	}
}

// scanRooms sends room_joined and room_left for the local sockets whose
// rooms changed since the last scan (or their connection). A socket whose
// rooms did not change costs its Rooms call and a map lookup per room:
// nothing is allocated or formatted for it.
func (a *Admin) scanRooms() {
	for _, ns := range a.watchedList() {
		name := ns.Name()
		for _, s := range ns.Sockets() {
			joined, left := a.rooms.update(name, s.ID(), s.Rooms())
			if len(joined) == 0 && len(left) == 0 {
				continue
			}
			now := jsDate(time.Now())
			for _, room := range joined {
				_ = a.nsp.Emit("room_joined", name, room, s.ID(), now)
			}
			for _, room := range left {
				_ = a.nsp.Emit("room_left", name, room, s.ID(), now)
			}
		}
	}
}

// socketKey names a local socket of a watched namespace.
type socketKey struct{ nsp, id string }

// roomTracker remembers the rooms last reported of each local socket: an
// entry from its connection (seed) to its disconnection (forget), so it
// holds at most the local sockets. Safe for concurrent use.
type roomTracker struct {
	mu    sync.Mutex
	rooms map[socketKey]map[string]bool
}

func newRoomTracker() *roomTracker {
	return &roomTracker{rooms: map[socketKey]map[string]bool{}}
}

func (t *roomTracker) seed(nsp, id string, rooms []string) {
	t.mu.Lock()
	t.rooms[socketKey{nsp, id}] = roomSet(rooms)
	t.mu.Unlock()
}

func (t *roomTracker) forget(nsp, id string) {
	t.mu.Lock()
	delete(t.rooms, socketKey{nsp, id})
	t.mu.Unlock()
}

// update records rooms (a set: no room twice) as the socket's and returns
// the rooms it joined and left since, both sorted; a socket not seeded (or
// forgotten) is left alone. Unchanged rooms allocate nothing.
func (t *roomTracker) update(nsp, id string, rooms []string) (joined, left []string) {
	key := socketKey{nsp, id}
	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.rooms[key]
	if !ok {
		return nil, nil
	}
	for _, r := range rooms {
		if !old[r] {
			joined = append(joined, r)
		}
	}
	if len(joined) == 0 && len(rooms) == len(old) {
		return nil, nil // every room known and as many: the same set
	}
	now := roomSet(rooms)
	for r := range old {
		if !now[r] {
			left = append(left, r)
		}
	}
	sort.Strings(joined)
	sort.Strings(left)
	t.rooms[key] = now
	return joined, left
}

func roomSet(rooms []string) map[string]bool {
	set := make(map[string]bool, len(rooms))
	for _, r := range rooms {
		set[r] = true
	}
	return set
}
