package hub

import (
	"slices"

	"github.com/stickyd/stickyd/ipc"
)

// route forwards a broadcast or request to every member with a member of
// a target room (every member serving the namespace without rooms),
// except m; a request is answered with HubRouted to m, before any target
// gets it. A broadcast with ipc.HubJoin indexes its targets in its join
// rooms before anything else is routed. Then, with no lock held, it
// stalls m while destinations are congested (see stall).
func (h *Server) route(m *member, typ byte, p []byte, r *ipc.HubRoute) {
	var targetBuf [32]*member
	var stallBuf [8]stallEntry
	waits := stalls(stallBuf[:0])
	joins := typ == byte(ipc.HubBroadcast) && r.Flags&ipc.HubJoin != 0
	lock, unlock := h.mu.RLock, h.mu.RUnlock
	if joins {
		lock, unlock = h.mu.Lock, h.mu.Unlock
	}
	lock()
	if m.removed {
		unlock()
		return
	}
	targets := h.targetsLocked(m, r, targetBuf[:0])
	if joins {
		nsp := string(r.Nsp)
		for room, ok := r.NextJoinRoom(); ok; room, ok = r.NextJoinRoom() {
			for _, dst := range targets {
				if dst.id == h.fleet.bridge {
					continue // the bridge relays every broadcast: no index
				}
				h.addRoomLocked(dst, nsp, string(room))
			}
		}
	}
	if typ == byte(ipc.HubRequest) {
		ids := make([]uint32, len(targets))
		for i, t := range targets {
			ids[i] = t.id
		}
		slices.Sort(ids)
		msg := ipc.HubMessage{Type: ipc.HubRouted, ReqID: r.ReqID, Instances: ids}
		var enc [128]byte
		if b, err := msg.AppendBinary(enc[:0]); err == nil {
			waits = waits.add(m, h.send(m, byte(ipc.HubRouted), b, false, m))
		}
	}
	h.noteRequest(typ, targets)
	volatile := typ == byte(ipc.HubBroadcast) && r.Flags&ipc.HubVolatile != 0
	for _, dst := range targets {
		waits = waits.add(dst, h.send(dst, typ, p, volatile, m))
	}
	unlock()
	h.stall(m, waits)
}

// targetsLocked appends to buf the members a frame from m with route r
// goes to, each once, m excluded.
func (h *Server) targetsLocked(m *member, r *ipc.HubRoute, buf []*member) []*member {
	idx := h.nsps[string(r.Nsp)]
	if idx == nil {
		return buf
	}
	add := func(id uint32) {
		if id == m.id {
			return
		}
		if dst := h.members[id]; dst != nil && !slices.Contains(buf, dst) {
			buf = append(buf, dst)
		}
	}
	if h.fleet.bridge != 0 {
		add(h.fleet.bridge) // the rest of the fleet, unless m is the bridge
	}
	if r.NRoom == 0 {
		for _, id := range idx.members {
			add(id)
		}
		return buf
	}
	for room, ok := r.NextRoom(); ok; room, ok = r.NextRoom() {
		for _, id := range idx.rooms[string(room)] {
			add(id)
		}
	}
	return buf
}

// applyRooms applies a HubRooms frame from m to the index.
func (h *Server) applyRooms(m *member, msg *ipc.HubMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.removed {
		return
	}
	for _, d := range msg.Deltas {
		switch d.Op {
		case ipc.NspJoin:
			h.joinNspLocked(m, msg.Nsp)
		case ipc.NspLeave:
			h.leaveNspLocked(m, msg.Nsp)
		case ipc.RoomAdd:
			h.addRoomLocked(m, msg.Nsp, d.Room)
		case ipc.RoomDel:
			held := m.rooms[msg.Nsp]
			if _, ok := held[d.Room]; !ok {
				continue
			}
			delete(held, d.Room)
			h.nsps[msg.Nsp].dropRoom(d.Room, m.id)
		}
	}
}

// addRoomLocked indexes m in room of nsp (idempotent).
func (h *Server) addRoomLocked(m *member, nsp, room string) {
	held := h.joinNspLocked(m, nsp)
	if _, ok := held[room]; ok {
		return
	}
	held[room] = struct{}{}
	idx := h.nsps[nsp]
	idx.rooms[room] = append(idx.rooms[room], m.id)
}

// joinNspLocked records that m serves nsp and returns m's room set there.
func (h *Server) joinNspLocked(m *member, nsp string) map[string]struct{} {
	if held := m.rooms[nsp]; held != nil {
		return held
	}
	held := make(map[string]struct{})
	m.rooms[nsp] = held
	idx := h.nsps[nsp]
	if idx == nil {
		idx = &nspIndex{rooms: make(map[string][]uint32)}
		h.nsps[nsp] = idx
		h.fleet.notify()
	}
	idx.members = append(idx.members, m.id)
	return held
}

// leaveNspLocked drops m and its rooms from nsp's index.
func (h *Server) leaveNspLocked(m *member, nsp string) {
	held, ok := m.rooms[nsp]
	if !ok {
		return
	}
	idx := h.nsps[nsp]
	for room := range held {
		idx.dropRoom(room, m.id)
	}
	delete(m.rooms, nsp)
	idx.members = deleteID(idx.members, m.id)
	if len(idx.members) == 0 {
		delete(h.nsps, nsp)
	}
}

func (idx *nspIndex) dropRoom(room string, id uint32) {
	ids := deleteID(idx.rooms[room], id)
	if len(ids) == 0 {
		delete(idx.rooms, room)
	} else {
		idx.rooms[room] = ids
	}
}

func deleteID(ids []uint32, id uint32) []uint32 {
	if i := slices.Index(ids, id); i >= 0 {
		return slices.Delete(ids, i, i+1)
	}
	return ids
}
