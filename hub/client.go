package hub

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/ipc"
)

// SyncTimeout bounds Client.AwaitSync.
const SyncTimeout = time.Second

// ClientOptions configure a Client.
type ClientOptions struct {
	// Logger receives link events and bad input; default
	// hclog.NewNullLogger().
	Logger hclog.Logger
	// Deliver receives every HubBroadcast and HubRequest of another
	// member, on the client's reader goroutine, one at a time, in the
	// order each member sent them. It must answer every request with a
	// final response (Respond), else the requester waits for its
	// timeout. The message does not alias the link's buffers. nil drops
	// broadcasts and answers requests empty.
	Deliver func(m *ipc.HubMessage)
	// OnLinkLost is called once, on the reader goroutine, when the link
	// ends after Join for another reason than Close. nil: the loss is
	// logged.
	OnLinkLost func(err error)
}

// Client is a worker's end of the hub link: it tracks the member set,
// numbers requests and routes their answers back to them, and echoes sync
// barriers. What the frames mean to Socket.IO is its user's (package
// adapter) business.
//
// Start it with Join. One goroutine reads the link and handles what the
// hub sends, in order; every method is safe for concurrent use.
type Client struct {
	fc   *ipc.FrameConn
	log  hclog.Logger
	opts ClientOptions

	mu       sync.Mutex
	self     uint32
	live     []uint32 // live instances, ascending, self included
	pending  map[uint64]*Request
	nextID   uint64
	syncs    map[uint64]chan struct{} // HubSync barriers awaiting their echo
	syncSeq  uint64
	started  bool // the reader was started
	lost     bool // the link ended
	closing  bool
	joined   chan struct{} // closed at the first HubMembers
	joinOnce sync.Once

	done chan struct{} // closed when the reader has finished
}

// NewClient returns a Client over fc, a hub link whose Hello frame has
// been sent. It owns fc from then on: call Join (or Close).
func NewClient(fc *ipc.FrameConn, opts ClientOptions) *Client {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	return &Client{
		fc:      fc,
		log:     opts.Logger,
		opts:    opts,
		pending: make(map[uint64]*Request),
		syncs:   make(map[uint64]chan struct{}),
		nextID:  1,
		joined:  make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// Join starts reading the link and waits for the hub's first member set,
// at most timeout. On error (ErrJoinTimeout, or ErrLinkClosed when the
// link ended first) the link is closed. Call it once.
func (c *Client) Join(timeout time.Duration) error {
	c.mu.Lock()
	if c.started || c.closing {
		c.mu.Unlock()
		return fmt.Errorf("%w: Join after Join or Close", ErrLinkClosed)
	}
	c.started = true
	go c.readLoop()
	c.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.joined:
		return nil
	case <-c.done:
		return fmt.Errorf("%w: link ended before the hub answered", ErrLinkClosed)
	case <-t.C:
		c.Close()
		return ErrJoinTimeout
	}
}

// Instance returns this member's instance id (0 before Join).
func (c *Client) Instance() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.self
}

// Instances returns the live instances, ascending, this one included
// (with a Redis bridge: also BridgeInstance and one placeholder per server
// of the other hosts, see ServerCount).
func (c *Client) Instances() []uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.live)
}

// ServerCount is the number of live instances, this one included: 1 once
// the link is lost. When the host is in a Redis fleet, the hub lists one
// instance per server of the other hosts and the bridge (BridgeInstance),
// which is not counted: the count is then the fleet's.
func (c *Client) ServerCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost || len(c.live) == 0 {
		return 1
	}
	if slices.Contains(c.live, BridgeInstance) {
		return len(c.live) - 1 // the bridge stands for the remote servers listed
	}
	return len(c.live)
}

// Done is closed when the link has ended and every pending request has
// resolved.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close closes the link; pending requests resolve with what they have.
// Idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closing = true
	started := c.started
	c.mu.Unlock()
	c.fc.Close()
	if started {
		<-c.done
	}
	return nil
}

// Send queues one frame (a HubRooms, HubBroadcast or HubSync from the
// caller). A volatile frame is dropped when the link's queue is full;
// another waits while it is full. Errors after the link ended are dropped
// (the reader reports the loss once); others are logged.
func (c *Client) Send(m *ipc.HubMessage, volatile bool) {
	b, err := m.AppendBinary(nil)
	if err != nil {
		c.log.Error("hub frame not sent", "type", m.Type, "nsp", m.Nsp, "error", err)
		return
	}
	if volatile {
		err = c.fc.TryWriteFrame(byte(m.Type), b)
	} else {
		err = c.fc.WriteFrame(byte(m.Type), b)
	}
	if err != nil && !errors.Is(err, ipc.ErrClosed) {
		c.log.Debug("hub frame not sent", "type", m.Type, "error", err)
	}
}

// Respond sends a response to request id of instance to; final marks the
// last one of this member.
func (c *Client) Respond(to uint32, id uint64, final bool, payload []byte) {
	m := ipc.HubMessage{Type: ipc.HubResponse, Instance: to, ReqID: id, Payload: payload}
	if final {
		m.Flags = ipc.HubFinal
	}
	c.Send(&m, false)
}

// StartSync queues a HubSync barrier behind every frame queued so far and
// returns a channel closed when the hub echoes it (or the link ends): the
// hub has then applied every earlier frame of this member.
func (c *Client) StartSync() <-chan struct{} {
	ch := make(chan struct{})
	c.mu.Lock()
	if c.lost {
		c.mu.Unlock()
		close(ch)
		return ch
	}
	c.syncSeq++
	seq := c.syncSeq
	c.syncs[seq] = ch
	c.mu.Unlock()
	c.Send(&ipc.HubMessage{Type: ipc.HubSync, ReqID: seq}, false)
	return ch
}

// AwaitSync waits for a barrier from StartSync, at most SyncTimeout (then
// it logs a warning and returns).
func (c *Client) AwaitSync(ch <-chan struct{}) {
	t := time.NewTimer(SyncTimeout)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
		c.log.Warn("hub did not echo a sync barrier in time", "timeout", SyncTimeout)
	}
}

func (c *Client) readLoop() {
	var err error
	for {
		var typ byte
		var p []byte
		typ, p, err = c.fc.ReadFrame()
		if err != nil {
			break
		}
		c.dispatch(typ, p)
	}
	c.linkEnded(err)
}

// dispatch handles one frame from the hub. Bad input is logged and
// dropped; it never panics.
func (c *Client) dispatch(typ byte, p []byte) {
	m, err := ipc.DecodeHubMessage(typ, p)
	if err != nil {
		c.log.Error("bad frame from the hub dropped", "type", ipc.HubType(typ), "error", err)
		return
	}
	switch m.Type {
	case ipc.HubMembers:
		c.members(m.Instance, m.Instances)
	case ipc.HubRouted:
		c.routed(m.ReqID, m.Instances)
	case ipc.HubResponse:
		c.response(m.Instance, m.ReqID, m.Flags&ipc.HubFinal != 0, m.Payload)
	case ipc.HubBroadcast, ipc.HubRequest:
		if c.opts.Deliver != nil {
			c.opts.Deliver(&m)
		} else if m.Type == ipc.HubRequest {
			c.Respond(m.Instance, m.ReqID, true, nil)
		}
	case ipc.HubSync:
		c.mu.Lock()
		ch := c.syncs[m.ReqID]
		delete(c.syncs, m.ReqID)
		c.mu.Unlock()
		if ch != nil {
			close(ch)
		}
	default:
		c.log.Error("unexpected frame type from the hub dropped", "type", m.Type)
	}
}

// linkEnded resolves every pending request and barrier and reports the
// loss.
func (c *Client) linkEnded(err error) {
	c.mu.Lock()
	c.lost = true
	closing := c.closing
	if c.self != 0 {
		c.live = []uint32{c.self}
	}
	pend := c.pending
	c.pending = make(map[uint64]*Request)
	syncs := c.syncs
	c.syncs = make(map[uint64]chan struct{})
	c.mu.Unlock()
	for _, ch := range syncs {
		close(ch)
	}
	for _, r := range pend {
		r.abandon()
	}
	c.fc.Close()
	close(c.done)
	select {
	case <-c.joined:
	default:
		return // Join reports it
	}
	if closing {
		return
	}
	err = fmt.Errorf("%w: %w", ErrLinkClosed, err)
	c.log.Error("hub link lost", "error", err)
	if c.opts.OnLinkLost != nil {
		c.opts.OnLinkLost(err)
	}
}
