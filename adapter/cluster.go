package adapter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/socketio"
	"github.com/stickyd/stickyd/worker"
)

// DefaultRequestTimeout bounds cluster requests (FetchSockets,
// ServerSideEmit with acks, the acks of a broadcast, room listings) when
// neither the caller's context nor the operation's Timeout does.
const DefaultRequestTimeout = 5 * time.Second

// Options configure a Cluster.
type Options struct {
	// Logger receives link events and bad input; default hclog.NewNullLogger().
	Logger hclog.Logger
	// RequestTimeout is the default bound of a request (DefaultRequestTimeout).
	RequestTimeout time.Duration
	// JoinTimeout bounds the wait for the hub's first answer in New and
	// NewCluster (default 5 s).
	JoinTimeout time.Duration
	// OnLinkLost is called once, on the link's reader goroutine, when the
	// hub link ends for another reason than Close. The Cluster then serves
	// this process alone (ServerCount 1, requests resolve at once). nil
	// means: log the error; New (a worker under stickyd) sets it to exit
	// the process with status 1 so that the primary restarts it in a
	// consistent state.
	OnLinkLost func(err error)
}

// Cluster is one worker's hub link, shared by the adapters of all its
// namespaces. Plug it into a Socket.IO server with
//
//	io := socketio.NewServer(socketio.Options{Adapter: cluster.Adapter})
//
// A Cluster created for a worker that does not run under stickyd has no
// link: its Adapter method returns socketio.NewInMemoryAdapter.
//
// One goroutine reads the link and applies what other workers send, in
// the order each of them sent it. All methods are safe for concurrent use.
type Cluster struct {
	fc   *ipc.FrameConn // nil: standalone
	log  hclog.Logger
	opts Options

	mu       sync.Mutex
	self     uint32
	live     []uint32 // live instances, ascending, self included
	adapters map[string]*Adapter
	pending  map[uint64]*request
	nextID   uint64
	lost     bool
	closing  bool
	joined   chan struct{} // closed at the first HubMembers
	joinOnce sync.Once
	syncs    map[uint64]chan struct{} // HubSync barriers awaiting their echo
	syncSeq  uint64

	applying atomic.Bool // the reader is applying another worker's operation

	done chan struct{} // closed when the reader has finished
}

// request is one outstanding cluster request. Its callbacks run on the
// reader goroutine, one at a time, never with Cluster.mu held: onRouted
// once, then onResp per response and onGone per asked instance that left
// before its final response.
type request struct {
	id       uint64
	routed   bool
	waiting  map[uint32]struct{} // asked instances without a final response
	onRouted func(targets []uint32)
	onResp   func(from uint32, payload []byte, final bool)
	onGone   func(from uint32)
	done     chan struct{} // closed when every asked instance answered or left
	timer    *time.Timer   // optional expiry (broadcast acks), set before start
	expired  atomic.Bool   // the expiry fired: start must not register
}

// New joins the cluster of the stickyd worker l: it dials the primary's hub
// with l.DialHub and waits until the hub has registered this instance, so
// call it before l.Ready. Outside stickyd (l.Managed() false) it returns a
// standalone Cluster. Unless opts.OnLinkLost is set, losing the hub link
// later exits the process with status 1 (the primary restarts it), except
// while the worker drains (l.Draining closed), when it is only logged.
func New(l *worker.Listener, opts Options) (*Cluster, error) {
	if !l.Managed() {
		return &Cluster{log: orNull(opts.Logger), opts: opts, done: closedChan()}, nil
	}
	if opts.OnLinkLost == nil {
		log := orNull(opts.Logger)
		opts.OnLinkLost = func(err error) {
			select {
			case <-l.Draining():
				log.Info("hub link closed while draining", "error", err)
				return
			default:
			}
			log.Error("hub link lost, exiting so that the primary restarts this worker", "error", err)
			os.Exit(1)
		}
	}
	fc, err := l.DialHub()
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	return NewCluster(fc, opts)
}

// NewCluster runs a Cluster over fc, a hub link whose Hello frame has been
// sent, and waits for the hub's first HubMembers frame. It owns fc from
// then on (on error too).
func NewCluster(fc *ipc.FrameConn, opts Options) (*Cluster, error) {
	opts.Logger = orNull(opts.Logger)
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.JoinTimeout <= 0 {
		opts.JoinTimeout = 5 * time.Second
	}
	c := &Cluster{
		fc:       fc,
		log:      opts.Logger,
		opts:     opts,
		adapters: make(map[string]*Adapter),
		pending:  make(map[uint64]*request),
		syncs:    make(map[uint64]chan struct{}),
		nextID:   1,
		joined:   make(chan struct{}),
		done:     make(chan struct{}),
	}
	go c.readLoop()
	t := time.NewTimer(opts.JoinTimeout)
	defer t.Stop()
	select {
	case <-c.joined:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("%w: link ended before the hub answered", ErrLinkClosed)
	case <-t.C:
		c.Close()
		return nil, ErrJoinTimeout
	}
}

func orNull(l hclog.Logger) hclog.Logger {
	if l == nil {
		return hclog.NewNullLogger()
	}
	return l
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// Adapter returns the adapter of nsp; it has the signature of
// socketio.Options.Adapter.
func (c *Cluster) Adapter(nsp *socketio.Namespace) socketio.Adapter {
	if c.fc == nil {
		return socketio.NewInMemoryAdapter(nsp)
	}
	return newAdapter(c, nsp)
}

// Instance returns this worker's instance id (0 standalone).
func (c *Cluster) Instance() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.self
}

// Instances returns the live instances of the cluster, ascending, this one
// included (nil standalone).
func (c *Cluster) Instances() []uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.live)
}

// Done is closed when the hub link has ended (at once standalone).
func (c *Cluster) Done() <-chan struct{} { return c.done }

// Close closes the hub link; pending requests resolve with what they have.
// Idempotent.
func (c *Cluster) Close() error {
	if c.fc == nil {
		return nil
	}
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.fc.Close()
	<-c.done
	return nil
}

func (c *Cluster) serverCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost || len(c.live) == 0 {
		return 1
	}
	return len(c.live)
}

// send queues one frame. A volatile frame is dropped when the link's queue
// is full. Errors after the link ended are dropped: the reader reports the
// loss once.
func (c *Cluster) send(m *ipc.HubMessage, volatile bool) {
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

// start registers r and sends its HubRequest. When the link is gone, r
// resolves at once with no target.
func (c *Cluster) start(r *request, nsp string, rooms []string, payload []byte) {
	r.done = make(chan struct{})
	c.mu.Lock()
	if c.lost || r.expired.Load() {
		c.mu.Unlock()
		r.onRouted(nil)
		close(r.done)
		return
	}
	r.id = c.nextID
	c.nextID++
	c.pending[r.id] = r
	c.mu.Unlock()
	m := ipc.HubMessage{Type: ipc.HubRequest, ReqID: r.id, Nsp: nsp, Rooms: rooms, Payload: payload}
	b, err := m.AppendBinary(nil)
	if err == nil {
		err = c.fc.WriteFrame(byte(ipc.HubRequest), b)
	}
	if err != nil && !errors.Is(err, ipc.ErrClosed) {
		// Not sent (too large): resolve as routed to nobody.
		c.log.Error("hub request not sent", "nsp", nsp, "error", err)
		c.mu.Lock()
		_, ok := c.pending[r.id]
		delete(c.pending, r.id)
		c.mu.Unlock()
		if ok {
			r.onRouted(nil)
			close(r.done)
		}
	}
}

// cancel forgets request r: later responses are dropped. A request not
// routed yet gets onRouted(nil) here, so that onRouted always runs once.
func (c *Cluster) cancel(r *request) {
	c.mu.Lock()
	_, ok := c.pending[r.id]
	delete(c.pending, r.id)
	unrouted := ok && !r.routed
	c.mu.Unlock()
	if unrouted {
		r.onRouted(nil)
	}
}

// wait blocks until r resolves or ctx is done; false means ctx ended first
// (r is then cancelled).
func (c *Cluster) wait(ctx context.Context, r *request) bool {
	select {
	case <-r.done:
		return true
	case <-ctx.Done():
		c.cancel(r)
		select {
		case <-r.done: // resolved meanwhile
			return true
		default:
			return false
		}
	}
}

// withTimeout bounds ctx by the default request timeout when it has no
// deadline.
func (c *Cluster) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.opts.RequestTimeout)
}

func (c *Cluster) readLoop() {
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
func (c *Cluster) dispatch(typ byte, p []byte) {
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
		c.mu.Lock()
		a := c.adapters[m.Nsp]
		c.mu.Unlock()
		if a == nil {
			c.log.Warn("frame for a namespace this worker does not serve", "nsp", m.Nsp, "type", m.Type, "from", m.Instance)
			if m.Type == ipc.HubRequest { // the requester must not wait for us
				c.respond(m.Instance, m.ReqID, true, nil)
			}
			return
		}
		c.applying.Store(true)
		if m.Type == ipc.HubBroadcast {
			a.onBroadcast(&m)
		} else {
			a.onRequest(&m)
		}
		c.applying.Store(false)
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

// syncTimeout bounds the wait for a HubSync echo.
const syncTimeout = time.Second

// startSync queues a HubSync barrier behind every frame queued so far and
// returns the channel closed when the hub echoes it (or the link ends).
func (c *Cluster) startSync() <-chan struct{} {
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
	c.send(&ipc.HubMessage{Type: ipc.HubSync, ReqID: seq}, false)
	return ch
}

// awaitSync waits for a barrier from startSync, at most syncTimeout.
func (c *Cluster) awaitSync(ch <-chan struct{}) {
	t := time.NewTimer(syncTimeout)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
		c.log.Warn("hub did not echo a sync barrier in time", "timeout", syncTimeout)
	}
}

// respond sends a response to instance to for request id.
func (c *Cluster) respond(to uint32, id uint64, final bool, payload []byte) {
	m := ipc.HubMessage{Type: ipc.HubResponse, Instance: to, ReqID: id, Payload: payload}
	if final {
		m.Flags = ipc.HubFinal
	}
	c.send(&m, false)
}

func (c *Cluster) members(self uint32, ids []uint32) {
	type gone struct {
		r  *request
		id uint32
	}
	var left []gone
	var resolved []*request
	c.mu.Lock()
	c.self = self
	c.live = ids
	for _, r := range c.pending {
		if !r.routed {
			continue
		}
		for id := range r.waiting {
			if !slices.Contains(ids, id) {
				delete(r.waiting, id)
				left = append(left, gone{r, id})
			}
		}
		if len(r.waiting) == 0 {
			delete(c.pending, r.id)
			resolved = append(resolved, r)
		}
	}
	c.mu.Unlock()
	c.joinOnce.Do(func() { close(c.joined) })
	for _, g := range left {
		if g.r.onGone != nil {
			g.r.onGone(g.id)
		}
	}
	for _, r := range resolved {
		r.finish()
	}
}

func (c *Cluster) routed(id uint64, targets []uint32) {
	c.mu.Lock()
	r := c.pending[id]
	if r == nil || r.routed {
		c.mu.Unlock()
		return
	}
	r.routed = true
	asked := targets[:0]
	r.waiting = make(map[uint32]struct{}, len(targets))
	for _, t := range targets {
		if slices.Contains(c.live, t) {
			r.waiting[t] = struct{}{}
			asked = append(asked, t)
		}
	}
	empty := len(r.waiting) == 0
	if empty {
		delete(c.pending, id)
	}
	c.mu.Unlock()
	r.onRouted(asked)
	if empty {
		r.finish()
	}
}

func (c *Cluster) response(from uint32, id uint64, final bool, payload []byte) {
	c.mu.Lock()
	r := c.pending[id]
	if r == nil || !r.routed {
		c.mu.Unlock()
		c.log.Trace("response for an unknown request dropped", "from", from, "id", id)
		return
	}
	if _, ok := r.waiting[from]; !ok {
		c.mu.Unlock()
		return
	}
	resolved := false
	if final {
		delete(r.waiting, from)
		if len(r.waiting) == 0 {
			delete(c.pending, id)
			resolved = true
		}
	}
	c.mu.Unlock()
	r.onResp(from, payload, final)
	if resolved {
		r.finish()
	}
}

func (r *request) finish() {
	if r.timer != nil {
		r.timer.Stop()
	}
	close(r.done)
}

// linkEnded resolves every pending request and reports the loss.
func (c *Cluster) linkEnded(err error) {
	c.mu.Lock()
	c.lost = true
	closing := c.closing
	if c.self != 0 {
		c.live = []uint32{c.self}
	}
	pend := c.pending
	c.pending = make(map[uint64]*request)
	syncs := c.syncs
	c.syncs = make(map[uint64]chan struct{})
	c.mu.Unlock()
	for _, ch := range syncs {
		close(ch)
	}
	for _, r := range pend {
		if !r.routed {
			r.onRouted(nil)
		} else if r.onGone != nil {
			for id := range r.waiting {
				r.onGone(id)
			}
		}
		r.finish()
	}
	c.fc.Close()
	close(c.done)
	select {
	case <-c.joined:
	default:
		return // NewCluster reports it
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
