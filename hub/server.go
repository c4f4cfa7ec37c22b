package hub

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

// Server is the hub: it relays adapter frames (ipc.HubType) between the
// members of one host, the worker links the primary hands it through
// Serve. See the package documentation for the rules it applies
// (routing, order, membership, requests, flow).
type Server struct {
	log          hclog.Logger
	stallBudget  time.Duration
	stallTimeout time.Duration
	metrics      *Metrics // nil without metrics

	mu      sync.RWMutex
	members map[uint32]*member
	nsps    map[string]*nspIndex
	closed  bool
	fleet   fleetState // the Redis bridge, when one is attached (bridge.go)
}

var _ Hub = (*Server)(nil)

// StallThreshold is how many bytes may wait for one member beyond its
// sink's own queue (ipc.FrameQueueLimit for a worker) before senders to it
// stall.
const StallThreshold = 4 << 20

// CutThreshold is how many bytes may wait for one member beyond its sink's
// queue at all: past it the member is a slow consumer and is cut. It leaves
// room above StallThreshold for one frame of the largest size.
const CutThreshold = StallThreshold + ipc.MaxHubFrame

// DefaultStallBudget is how long one incoming frame may hold its sender's
// link back, in total over all its congested destinations.
const DefaultStallBudget = 100 * time.Millisecond

// DefaultStallTimeout is how long a member's queue may stay over
// StallThreshold before the member is cut.
const DefaultStallTimeout = 5 * time.Second

// Options configure a Server.
type Options struct {
	// Logger receives link events; default hclog.NewNullLogger().
	Logger hclog.Logger
	// StallBudget bounds the time one frame holds back the link that sent
	// it while destinations are over StallThreshold (default
	// DefaultStallBudget).
	StallBudget time.Duration
	// StallTimeout is how long a member's queue may stay over
	// StallThreshold before its link is cut (default DefaultStallTimeout).
	StallTimeout time.Duration
	// Metrics, when not nil, counts frames and bytes by type and
	// direction, requests left unanswered by a member that left, dropped
	// volatile frames, cut links and stalled time.
	Metrics *Metrics
}

// nspIndex is the routing state of one namespace.
type nspIndex struct {
	members []uint32            // instances serving the namespace
	rooms   map[string][]uint32 // room -> instances with a member of it
}

// NewServer returns a hub with no member.
func NewServer(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.StallBudget <= 0 {
		opts.StallBudget = DefaultStallBudget
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = DefaultStallTimeout
	}
	return &Server{
		log:          opts.Logger,
		stallBudget:  opts.StallBudget,
		stallTimeout: opts.StallTimeout,
		metrics:      opts.Metrics,
		members:      make(map[uint32]*member),
		nsps:         make(map[string]*nspIndex),
	}
}

// Serve runs the hub link of instance until it ends, then removes the
// instance (its rooms leave the index, the other members are sent the new
// member set) and closes fc. The caller has consumed the Hello frame. A
// second link for an instance already served, or a link after Close, is
// closed at once. Safe for concurrent use with every other method.
func (h *Server) Serve(instance uint32, fc *ipc.FrameConn) {
	m := newMember(instance, fc)
	if !h.add(m) {
		fc.Close()
		return
	}
	h.log.Debug("hub link up", "instance", instance)
	err := h.readLoop(m, fc)
	h.remove(m)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, ipc.ErrClosed), errors.Is(err, net.ErrClosed):
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

// add makes m a member and sends everyone the new member set; false when
// its id is taken or the hub is closed.
func (h *Server) add(m *member) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.members[m.id] != nil {
		h.log.Warn("hub link refused", "instance", m.id, "hub_closed", h.closed)
		return false
	}
	h.members[m.id] = m
	h.sendMembersLocked()
	h.fleet.notify()
	return true
}

// readLoop hands every frame of fc to handle until the link ends or a
// frame is refused; it always returns a non-nil error. The frames relayed
// from one read of the link are written to each destination together,
// on this goroutine, once no other whole frame is buffered (see push).
func (h *Server) readLoop(m *member, fc *ipc.FrameConn) error {
	defer h.push(m)
	for {
		typ, p, err := fc.ReadFrame()
		if err != nil {
			return err
		}
		if err := h.handle(m, typ, p); err != nil {
			return err
		}
		if !fc.FrameBuffered() {
			h.push(m)
		}
	}
}

// push writes out the frames relayed from m that wait in their
// destinations' sinks (send with from m). Called by the goroutine handling
// m's frames, with no lock held, before it may wait: for m's link or in a
// stall.
func (h *Server) push(m *member) {
	for i, dst := range m.pushes {
		dst.out.Push()
		m.pushes[i] = nil
	}
	m.pushes = m.pushes[:0]
}

// WorkerGone removes instance at once, as if its link had ended, and closes
// the link; Serve then returns. Unknown instances are ignored. Idempotent.
func (h *Server) WorkerGone(instance uint32) {
	h.mu.RLock()
	m := h.members[instance]
	h.mu.RUnlock()
	if m != nil {
		h.remove(m)
	}
}

// Close closes every link and refuses new ones. Serve calls return.
func (h *Server) Close() error {
	h.mu.Lock()
	h.closed = true
	members := make([]*member, 0, len(h.members))
	for _, m := range h.members {
		members = append(members, m)
	}
	h.mu.Unlock()
	for _, m := range members {
		h.remove(m)
	}
	return nil
}

// Instances returns the live instances, ascending.
func (h *Server) Instances() []uint32 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.instancesLocked()
}

// RoomInstances returns the instances that have announced a member of room
// in nsp, ascending (nil when none).
func (h *Server) RoomInstances(nsp, room string) []uint32 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if idx := h.nsps[nsp]; idx != nil {
		ids := slices.Clone(idx.rooms[room])
		slices.Sort(ids)
		return ids
	}
	return nil
}

func (h *Server) instancesLocked() []uint32 {
	ids := make([]uint32, 0, len(h.members))
	for id := range h.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// remove takes m out of the hub once: its rooms leave the index, the other
// members get the new member set, its queue is dropped and its sink closed.
// It reports whether this call removed m.
func (h *Server) remove(m *member) bool {
	h.mu.Lock()
	if m.removed {
		h.mu.Unlock()
		return false
	}
	m.removed = true
	delete(h.members, m.id)
	for nsp := range m.rooms {
		h.leaveNspLocked(m, nsp)
	}
	h.sendMembersLocked()
	h.fleet.notify()
	h.mu.Unlock()
	h.noteRemoved(m)
	m.queue.close()
	m.out.Close()
	return true
}

// sendMembersLocked queues HubMembers to every member. Called with mu held
// for writing, so the set each member sees is ordered with every routing
// decision (HubRouted) made under the read lock. The member set is never
// held back: a member too slow for it is cut by its queue's bounds.
func (h *Server) sendMembersLocked() {
	ids := h.instancesLocked()
	all := h.fleet.withRemote(ids)
	for _, id := range ids {
		m := h.members[id]
		msg := ipc.HubMessage{Type: ipc.HubMembers, Instance: id, Instances: all}
		b, err := msg.AppendBinary(m.scratch[:0])
		if err != nil { // cannot happen for a well-formed member list
			h.log.Error("encode members", "error", err)
			continue
		}
		m.scratch = b
		h.send(m, byte(ipc.HubMembers), b, false, nil)
	}
}

// handle routes one frame from m. An error ends m's link.
func (h *Server) handle(m *member, typ byte, p []byte) error {
	h.metrics.frame(typ, len(p), dirIn)
	switch ipc.HubType(typ) {
	case ipc.HubRooms:
		msg, err := ipc.DecodeHubMessage(typ, p)
		if err != nil {
			return err
		}
		h.applyRooms(m, &msg)
		return nil
	case ipc.HubBroadcast, ipc.HubRequest:
		r, err := ipc.ParseHubRoute(typ, p)
		if err != nil {
			return err
		}
		ipc.SetHubInstance(p, m.id)
		h.route(m, typ, p, &r)
		return nil
	case ipc.HubSync:
		if _, err := ipc.DecodeHubMessage(typ, p); err != nil {
			return err
		}
		// Every earlier frame of m has been applied: echo it.
		var buf [1]stallEntry
		h.stall(m, stalls(buf[:0]).add(m, h.send(m, typ, p, false, m)))
		return nil
	case ipc.HubResponse:
		return h.relayResponse(m, typ, p)
	}
	return fmt.Errorf("%w: hub frame type %s from a worker", ipc.ErrMalformed, ipc.HubType(typ))
}

// relayResponse forwards a response from m to the requester it names, with
// the instance field rewritten to m; a response for an instance that is
// not live is dropped.
func (h *Server) relayResponse(m *member, typ byte, p []byte) error {
	to, err := ipc.ParseHubResponseTarget(p)
	if err != nil {
		return err
	}
	h.noteResponse(m, p)
	ipc.SetHubInstance(p, m.id)
	var buf [1]stallEntry
	waits := stalls(buf[:0])
	h.mu.RLock()
	dst := h.members[to]
	if dst != nil && !m.removed {
		waits = waits.add(dst, h.send(dst, typ, p, false, m))
	}
	h.mu.RUnlock()
	if dst == nil {
		h.log.Debug("response for an instance that is not live dropped", "from", m.id, "to", to)
	}
	h.stall(m, waits)
	return nil
}
