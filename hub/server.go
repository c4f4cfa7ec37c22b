package primary

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/ipc"
)

// RoomHub relays adapter frames between workers (ipc.HubType frames). It
// keeps an index of which instances have members of which rooms per
// namespace and forwards each broadcast or request only to the instances
// with a member of a target room (every instance serving the namespace
// when there are no target rooms), never back to the sender. Responses go
// only to the requester.
//
// Membership: every link receives ipc.HubMembers when it starts and each
// time the set of live instances changes. When a link ends (EOF, error, bad
// frame, WorkerGone, slow consumer), its rooms leave the index and the
// remaining links are sent the new set at once; a requester learns from
// HubRouted which instances were asked, so it resolves a request the moment
// one of them leaves the set.
//
// Order: frames from one link are handled one at a time, and each
// destination has one FIFO queue, so frames from one worker reach each other
// worker in the order sent (volatile frames may be dropped, see below).
//
// Flow: each destination has its FrameConn's queue (ipc.FrameQueueLimit
// bytes) and behind it an overflow queue of at most HubOverflowLimit bytes
// (plus one frame per sending link). A volatile broadcast is dropped for a
// destination whose FrameConn queue is full, so volatile packets go first.
// Other frames go to the overflow queue; while it is over its limit, the
// hub stops reading from the links that send to that destination (their
// workers' own queues then fill and their writes wait: back-pressure), for
// at most HubOptions.StallTimeout; a destination that has not drained below
// the limit by then is stuck, and its link is closed (the worker restarts,
// its peers are told). The hub never blocks while holding its index lock,
// and its memory per worker is bounded.
//
// Bad input: a frame that does not decode, a hub-to-worker type sent by a
// worker, or an unknown type closes that link only, and is logged.
// A response for an instance that is not live is dropped.
type RoomHub struct {
	log     hclog.Logger
	stall   time.Duration
	metrics *Metrics // nil without metrics

	mu     sync.RWMutex
	links  map[uint32]*hubLink
	nsps   map[string]*nspIndex
	closed bool
}

var _ Hub = (*RoomHub)(nil)

// HubOverflowLimit bounds the bytes queued for one worker beyond its
// FrameConn's queue before senders to it are held back.
const HubOverflowLimit = 4 << 20

// DefaultStallTimeout is how long senders are held back for a worker whose
// queue stays full before that worker's link is closed.
const DefaultStallTimeout = 5 * time.Second

// HubOptions configure a RoomHub.
type HubOptions struct {
	// Logger receives link events; default hclog.NewNullLogger().
	Logger hclog.Logger
	// StallTimeout is how long a worker's queue may stay over its limit
	// before its link is closed (default DefaultStallTimeout).
	StallTimeout time.Duration
	// Metrics, when not nil, counts frames and bytes by type and
	// direction, requests left unanswered by a worker that left, stall
	// timeouts and dropped volatile frames.
	Metrics *Metrics
}

// nspIndex is the routing state of one namespace.
type nspIndex struct {
	members []uint32            // instances serving the namespace
	rooms   map[string][]uint32 // room -> instances with a member of it
}

// hubLink is one worker's hub link. Fields other than fc and id are guarded
// by RoomHub.mu.
type hubLink struct {
	id      uint32
	fc      *ipc.FrameConn
	rooms   map[string]map[string]struct{} // nsp -> rooms this instance has
	removed bool
	scratch []byte // encode buffer, used under RoomHub.mu (write lock)
	stats   hubLinkStats

	omu      sync.Mutex
	ocond    *sync.Cond // signalled when the overflow shrinks or the link closes
	overflow [][]byte   // frames (type byte + payload) waiting for room in fc
	obytes   int
	flushing bool // a flush goroutine is running
	oclosed  bool
}

func newHubLink(id uint32, fc *ipc.FrameConn) *hubLink {
	l := &hubLink{id: id, fc: fc, rooms: make(map[string]map[string]struct{})}
	l.ocond = sync.NewCond(&l.omu)
	return l
}

// NewRoomHub returns an empty hub.
func NewRoomHub(opts HubOptions) *RoomHub {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = DefaultStallTimeout
	}
	return &RoomHub{
		log:     opts.Logger,
		stall:   opts.StallTimeout,
		metrics: opts.Metrics,
		links:   make(map[uint32]*hubLink),
		nsps:    make(map[string]*nspIndex),
	}
}

// Serve runs the hub link of instance until it ends, then removes the
// instance (its rooms leave the index, the other links are sent the new
// member set) and closes fc. The caller has consumed the Hello frame. A
// second link for an instance already served, or a link after Close, is
// closed at once. Safe for concurrent use with every other method.
func (h *RoomHub) Serve(instance uint32, fc *ipc.FrameConn) {
	l := newHubLink(instance, fc)
	h.mu.Lock()
	if closed := h.closed; closed || h.links[instance] != nil {
		h.mu.Unlock()
		h.log.Warn("hub link refused", "instance", instance, "hub_closed", closed)
		fc.Close()
		return
	}
	h.links[instance] = l
	h.sendMembersLocked()
	h.mu.Unlock()
	h.log.Debug("hub link up", "instance", instance)

	err := h.readLoop(l)
	h.remove(l)
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, ipc.ErrClosed), errors.Is(err, net.ErrClosed):
		// The worker closed it, or the primary did (the worker exited, shutdown).
		h.log.Debug("hub link down", "instance", instance)
	case errors.Is(err, syscall.ECONNRESET):
		// The worker exited with hub frames unread (a member update sent
		// while it drained): its exit, clean or not, is the supervisor's
		// to report.
		h.log.Debug("hub link down", "instance", instance, "error", err)
	default:
		h.log.Warn("hub link closed", "instance", instance, "error", err)
	}
}

// WorkerGone removes instance at once, as if its link had ended, and closes
// the link; Serve then returns. Unknown instances are ignored. Idempotent.
func (h *RoomHub) WorkerGone(instance uint32) {
	h.mu.RLock()
	l := h.links[instance]
	h.mu.RUnlock()
	if l != nil {
		h.remove(l)
	}
}

// Close closes every link and refuses new ones. Serve calls return.
func (h *RoomHub) Close() error {
	h.mu.Lock()
	h.closed = true
	links := make([]*hubLink, 0, len(h.links))
	for _, l := range h.links {
		links = append(links, l)
	}
	h.mu.Unlock()
	for _, l := range links {
		h.remove(l)
	}
	return nil
}

// Instances returns the live instances, ascending.
func (h *RoomHub) Instances() []uint32 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.instancesLocked()
}

// RoomInstances returns the instances that have announced a member of room
// in nsp, ascending (nil when none).
func (h *RoomHub) RoomInstances(nsp, room string) []uint32 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if idx := h.nsps[nsp]; idx != nil {
		ids := slices.Clone(idx.rooms[room])
		slices.Sort(ids)
		return ids
	}
	return nil
}

func (h *RoomHub) instancesLocked() []uint32 {
	ids := make([]uint32, 0, len(h.links))
	for id := range h.links {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// remove takes l out of the hub once: its rooms leave the index, the other
// links get the new member set, and its FrameConn is closed.
func (h *RoomHub) remove(l *hubLink) {
	h.mu.Lock()
	if l.removed {
		h.mu.Unlock()
		return
	}
	l.removed = true
	delete(h.links, l.id)
	for nsp := range l.rooms {
		h.leaveNspLocked(l, nsp)
	}
	h.sendMembersLocked()
	h.mu.Unlock()
	h.noteRemoved(l)
	l.omu.Lock()
	l.oclosed = true
	l.overflow, l.obytes = nil, 0
	l.ocond.Broadcast()
	l.omu.Unlock()
	l.fc.Close()
}

// sendMembersLocked queues HubMembers to every link. Called with mu held
// for writing, so the set each link sees is ordered with every routing
// decision (HubRouted) made under the read lock.
func (h *RoomHub) sendMembersLocked() {
	ids := h.instancesLocked()
	for _, id := range ids {
		l := h.links[id]
		m := ipc.HubMessage{Type: ipc.HubMembers, Instance: id, Instances: ids}
		b, err := m.AppendBinary(l.scratch[:0])
		if err != nil { // cannot happen for a well-formed member list
			h.log.Error("encode members", "error", err)
			continue
		}
		l.scratch = b
		h.send(l, byte(ipc.HubMembers), b, false)
	}
}

func (h *RoomHub) readLoop(l *hubLink) error {
	for {
		typ, p, err := l.fc.ReadFrame()
		if err != nil {
			return err
		}
		if err := h.handle(l, typ, p); err != nil {
			return err
		}
	}
}

// handle routes one frame from l. An error ends l's link.
func (h *RoomHub) handle(l *hubLink, typ byte, p []byte) error {
	h.metrics.hubFrame(typ, len(p), hubIn)
	switch ipc.HubType(typ) {
	case ipc.HubRooms:
		m, err := ipc.DecodeHubMessage(typ, p)
		if err != nil {
			return err
		}
		h.applyRooms(l, &m)
		return nil
	case ipc.HubBroadcast, ipc.HubRequest:
		r, err := ipc.ParseHubRoute(typ, p)
		if err != nil {
			return err
		}
		ipc.SetHubInstance(p, l.id)
		h.route(l, typ, p, &r)
		return nil
	case ipc.HubSync:
		if _, err := ipc.DecodeHubMessage(typ, p); err != nil {
			return err
		}
		// Every earlier frame of l has been applied: echo it.
		if h.send(l, typ, p, false) {
			h.holdBack(l)
		}
		return nil
	case ipc.HubResponse:
		to, err := ipc.ParseHubResponseTarget(p)
		if err != nil {
			return err
		}
		h.noteResponse(l, p)
		ipc.SetHubInstance(p, l.id)
		h.mu.RLock()
		dst := h.links[to]
		congested := false
		if dst != nil && !l.removed {
			congested = h.send(dst, typ, p, false)
		}
		h.mu.RUnlock()
		if dst == nil {
			h.log.Debug("response for an instance that is not live dropped", "from", l.id, "to", to)
		}
		if congested {
			h.holdBack(dst)
		}
		return nil
	}
	return fmt.Errorf("%w: hub frame type %s from a worker", ipc.ErrMalformed, ipc.HubType(typ))
}

// route forwards a broadcast or request to every instance with a member of
// a target room (every instance serving the namespace without rooms),
// except l; a request is answered with HubRouted to l, before any target
// gets it. A broadcast with ipc.HubJoin indexes its targets in its join
// rooms before anything else is routed. It then holds l back while a
// destination is congested.
func (h *RoomHub) route(l *hubLink, typ byte, p []byte, r *ipc.HubRoute) {
	var buf, cbuf [32]*hubLink
	targets, congested := buf[:0], cbuf[:0]
	joins := typ == byte(ipc.HubBroadcast) && r.Flags&ipc.HubJoin != 0
	lock, unlock := h.mu.RLock, h.mu.RUnlock
	if joins {
		lock, unlock = h.mu.Lock, h.mu.Unlock
	}
	lock()
	if l.removed {
		unlock()
		return
	}
	if idx := h.nsps[string(r.Nsp)]; idx != nil {
		add := func(id uint32) {
			if id == l.id {
				return
			}
			dst := h.links[id]
			if dst != nil && !slices.Contains(targets, dst) {
				targets = append(targets, dst)
			}
		}
		if r.NRoom == 0 {
			for _, id := range idx.members {
				add(id)
			}
		} else {
			for room, ok := r.NextRoom(); ok; room, ok = r.NextRoom() {
				for _, id := range idx.rooms[string(room)] {
					add(id)
				}
			}
		}
	}
	if joins {
		nsp := string(r.Nsp)
		for room, ok := r.NextJoinRoom(); ok; room, ok = r.NextJoinRoom() {
			for _, dst := range targets {
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
		m := ipc.HubMessage{Type: ipc.HubRouted, ReqID: r.ReqID, Instances: ids}
		var enc [128]byte
		if b, err := m.AppendBinary(enc[:0]); err == nil && h.send(l, byte(ipc.HubRouted), b, false) {
			congested = append(congested, l)
		}
	}
	h.noteRequest(typ, targets)
	volatile := typ == byte(ipc.HubBroadcast) && r.Flags&ipc.HubVolatile != 0
	for _, dst := range targets {
		if h.send(dst, typ, p, volatile) {
			congested = append(congested, dst)
		}
	}
	unlock()
	for _, dst := range congested {
		h.holdBack(dst)
	}
}

// applyRooms applies a HubRooms frame from l to the index.
func (h *RoomHub) applyRooms(l *hubLink, m *ipc.HubMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if l.removed {
		return
	}
	for _, d := range m.Deltas {
		switch d.Op {
		case ipc.NspJoin:
			h.joinNspLocked(l, m.Nsp)
		case ipc.NspLeave:
			h.leaveNspLocked(l, m.Nsp)
		case ipc.RoomAdd:
			h.addRoomLocked(l, m.Nsp, d.Room)
		case ipc.RoomDel:
			held := l.rooms[m.Nsp]
			if _, ok := held[d.Room]; !ok {
				continue
			}
			delete(held, d.Room)
			h.nsps[m.Nsp].dropRoom(d.Room, l.id)
		}
	}
}

// addRoomLocked indexes l in room of nsp (idempotent).
func (h *RoomHub) addRoomLocked(l *hubLink, nsp, room string) {
	held := h.joinNspLocked(l, nsp)
	if _, ok := held[room]; ok {
		return
	}
	held[room] = struct{}{}
	idx := h.nsps[nsp]
	idx.rooms[room] = append(idx.rooms[room], l.id)
}

// joinNspLocked records that l serves nsp and returns l's room set there.
func (h *RoomHub) joinNspLocked(l *hubLink, nsp string) map[string]struct{} {
	if held := l.rooms[nsp]; held != nil {
		return held
	}
	held := make(map[string]struct{})
	l.rooms[nsp] = held
	idx := h.nsps[nsp]
	if idx == nil {
		idx = &nspIndex{rooms: make(map[string][]uint32)}
		h.nsps[nsp] = idx
	}
	idx.members = append(idx.members, l.id)
	return held
}

// leaveNspLocked drops l and its rooms from nsp's index.
func (h *RoomHub) leaveNspLocked(l *hubLink, nsp string) {
	held, ok := l.rooms[nsp]
	if !ok {
		return
	}
	idx := h.nsps[nsp]
	for room := range held {
		idx.dropRoom(room, l.id)
	}
	delete(l.rooms, nsp)
	idx.members = deleteID(idx.members, l.id)
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
