package primary

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/stickyd/stickyd/fleet"
	"github.com/stickyd/stickyd/httphead"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/operator"
	"github.com/stickyd/stickyd/proxyproto"
)

// Any host routes any session (Options.Fleet): every instance id this
// host assigns carries its fleet host id (ipc.HostInstance), so every sid
// names its host. A request whose sid names another live host is relayed
// there whole (relayToHost, relay.go): a PROXY v2 header sealed with the
// fleet secret, then the connection spliced both ways. The owner host
// reads that header (serveFleetConn), refuses it unless it is a live
// member's, and routes the connection to its worker as if the client had
// connected directly. When the owner's worker hands such a connection back
// because its next request names a third host, the owner gives it back to
// the host that relayed it (giveBack), which routes it again: relays never
// chain unless a give-back fails.

// Bounds of the connections between hosts.
const (
	// fleetDialTimeout bounds connecting to another host; a host that
	// cannot be reached in time is treated as gone (400 unknown sid).
	fleetDialTimeout = 2 * time.Second
	// fleetIOTimeout bounds writing a relay's header and a give-back.
	fleetIOTimeout = 5 * time.Second
	// maxGiveBack caps the request bytes a give-back carries.
	maxGiveBack = 1 << 20
	// maxFleetIn caps the relayed connections remembered for a give-back
	// (oldest forgotten first: a forgotten one is relayed on instead).
	maxFleetIn = 1 << 16
	// giveBackAck is the byte the relaying host answers a give-back with
	// once it holds it.
	giveBackAck = 'K'
)

// errGiveBackTooLarge is returned for a give-back beyond maxGiveBack.
var errGiveBackTooLarge = errors.New("primary: give-back too large")

// fleetState is the Supervisor's record of connections between hosts.
type fleetState struct {
	mu       sync.Mutex
	closed   bool                    // shutdown closed the relays: start no more
	out      map[uint64]*outRelay    // relays this host runs, by relay id
	in       map[uint64]*fleetOrigin // relayed-in connections by the connection id they were last handed off under
	inOrder  []uint64                // keys of in, oldest first (may hold stale ids)
	giveBack map[uint64][]byte       // give-backs received, by relay id, until the relay takes them
}

// fleetOrigin is where a relayed-in connection came from.
type fleetOrigin struct {
	from    uint16         // the host that relayed it
	relayID uint64         // that host's id of the relay
	client  netip.AddrPort // the client, from the PROXY header
}

// fleetInConn is a connection another host relayed here.
type fleetInConn struct {
	clientConn
	origin *fleetOrigin
}

// foreignHost returns the fleet host line's sid names when it is another
// host than this one: the routing step before pick.
func (s *Supervisor) foreignHost(line httphead.RequestLine) (uint16, bool) {
	if s.opts.Fleet == nil || line.SID == "" {
		return 0, false
	}
	host, ok := ipc.SIDHost(line.SID)
	return host, ok && host != s.opts.Fleet.Self()
}

// newInstanceID returns the id of the next instance: its fleet host id
// (0 outside a fleet) and a per-host number that is never 0 and not the
// number of a live instance. The caller holds routingMu.
func (s *Supervisor) newInstanceID() uint32 {
	var host uint16
	if s.opts.Fleet != nil {
		host = s.opts.Fleet.Self()
	}
	for {
		n := s.nextInst.Add(1)
		if host == 0 {
			return n
		}
		id := ipc.HostInstance(host, n)
		if id&ipc.MaxHostInstance != 0 && s.instances[id] == nil {
			return id
		}
	}
}

// startsFleetHeader peeks at the first bytes of the connection behind rc
// and reports whether they start a PROXY v2 header (which only another
// host sends).
func startsFleetHeader(rc syscall.RawConn) (bool, error) {
	var buf [len(proxyproto.V2Signature)]byte
	var is bool
	err := peek(rc, buf[:], func(b []byte) (bool, error) {
		is = proxyproto.HasV2Signature(b)
		return !is || len(b) >= len(proxyproto.V2Signature), nil
	})
	return is, err
}

// readFleetHeader reads (consumes) c's PROXY v2 header and verifies it.
func (s *Supervisor) readFleetHeader(c clientConn, rc syscall.RawConn) (proxyproto.HeaderV2, fleet.Claim, error) {
	var h proxyproto.HeaderV2
	var n int
	buf := make([]byte, proxyproto.MaxV2Header)
	err := peek(rc, buf, func(b []byte) (bool, error) {
		var complete bool
		var err error
		h, n, complete, err = proxyproto.ParseV2(b)
		return complete, err
	})
	if err != nil {
		return h, fleet.Claim{}, err
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return h, fleet.Claim{}, err
	}
	h, _, _, _ = proxyproto.ParseV2(hdr) // the same bytes: TLVs now alias hdr
	claim, err := s.opts.Fleet.Verify(hdr, h)
	return h, claim, err
}

// serveFleetConn serves c, a connection that starts with a PROXY v2
// header, on the slow path: a relay from a member is routed like a
// client's connection from the header's client address; a give-back is
// stored for its relay. A header that is not a live member's, sealed with
// the fleet secret, gets the connection closed with nothing written. c
// is closed or handed on, on every path.
func (s *Supervisor) serveFleetConn(c clientConn, peer netip.AddrPort, rc syscall.RawConn, accepted stamp) {
	h, claim, err := s.readFleetHeader(c, rc)
	if err != nil {
		s.opts.Metrics.fleetInbound("refused")
		s.log.Debug("refusing a connection with a PROXY v2 header not from a fleet member", "peer", peer, "error", err)
		c.Close()
		return
	}
	if claim.Kind == fleet.KindGiveBack {
		s.receiveGiveBack(c, claim)
		return
	}
	s.opts.Metrics.fleetInbound("relayed")
	origin := &fleetOrigin{from: claim.From, relayID: claim.RelayID, client: h.Src}
	addr := netip.AddrPortFrom(h.Src.Addr().Unmap(), h.Src.Port())
	line, err := peekRequestLine(rc)
	if err != nil {
		s.rejectClient(c, addr, err)
		return
	}
	if _, foreign := s.foreignHost(line); foreign {
		// The relaying host thought this host owned the sid: never relay
		// on (no loops between hosts whose views differ).
		s.log.Debug("relayed request names another host; answering 400", "client", addr, "from_host", claim.From)
		s.opts.Metrics.routed(DecisionUnknownSID)
		s.answer(c, respUnknownSID)
		return
	}
	s.route(&fleetInConn{c, origin}, addr, line, nil, 0, accepted)
}

// noteFleetIn records that c, when another host relayed it here, goes to
// a worker under connection id id, so that a hand-back of it can be given
// back (fleetInOf).
func (s *Supervisor) noteFleetIn(c clientConn, id uint64) {
	fc, ok := c.(*fleetInConn)
	if !ok {
		return
	}
	f := &s.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.in == nil {
		f.in = make(map[uint64]*fleetOrigin)
	}
	f.in[id] = fc.origin
	f.inOrder = append(f.inOrder, id)
	for len(f.in) > maxFleetIn || len(f.inOrder) > 2*maxFleetIn {
		delete(f.in, f.inOrder[0])
		f.inOrder = f.inOrder[1:]
	}
}

// fleetInOf returns (and forgets) the origin of the relayed-in connection
// handed off under id, or nil.
func (s *Supervisor) fleetInOf(id uint64) *fleetOrigin {
	if s.opts.Fleet == nil {
		return nil
	}
	f := &s.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.in[id]
	delete(f.in, id)
	return o
}

// receiveGiveBack stores a give-back (a length-prefixed request) for the
// relay it names and acknowledges it; c is closed.
func (s *Supervisor) receiveGiveBack(c clientConn, claim fleet.Claim) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(fleetIOTimeout))
	c.SetWriteDeadline(time.Now().Add(fleetIOTimeout))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return
	}
	n := binary.BigEndian.Uint32(size[:])
	if n == 0 || n > maxGiveBack {
		s.log.Debug("refusing a give-back", "from_host", claim.From, "error", errGiveBackTooLarge, "bytes", n)
		return
	}
	req := make([]byte, n)
	if _, err := io.ReadFull(c, req); err != nil {
		return
	}
	f := &s.fleet
	f.mu.Lock()
	_, live := f.out[claim.RelayID]
	if live {
		if f.giveBack == nil {
			f.giveBack = make(map[uint64][]byte)
		}
		f.giveBack[claim.RelayID] = req
	}
	f.mu.Unlock()
	if !live {
		s.opts.Metrics.fleetInbound("give_back_unknown")
		return
	}
	s.opts.Metrics.fleetInbound("give_back")
	c.Write([]byte{giveBackAck})
}

// takeGiveBack returns and forgets the give-back of relay id, or nil.
func (s *Supervisor) takeGiveBack(id uint64) []byte {
	f := &s.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.giveBack[id]
	delete(f.giveBack, id)
	return b
}

// closeFleetRelays closes the client side of every relay (shutdown): each
// relay then ends. No relay starts after it.
func (s *Supervisor) closeFleetRelays() {
	f := &s.fleet
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for _, r := range f.out {
		r.client.Close()
		r.upstream.Close()
	}
}

// fleetReport lists the fleet's hosts for the status report, with the
// relays to each; nil outside a fleet.
func (s *Supervisor) fleetReport() []operator.FleetHostReport {
	if s.opts.Fleet == nil {
		return nil
	}
	f := &s.fleet
	relays := map[uint16]int{}
	f.mu.Lock()
	for _, r := range f.out {
		relays[r.host]++
	}
	f.mu.Unlock()
	var out []operator.FleetHostReport
	for _, m := range s.opts.Fleet.Members() {
		out = append(out, operator.FleetHostReport{ID: m.ID, Addr: m.Addr, Self: m.Self, Relays: relays[m.ID]})
	}
	return out
}
