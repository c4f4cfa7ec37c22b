package primary

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/balance"
	"github.com/stickyd/stickyd/fleet"
	"github.com/stickyd/stickyd/hub"
	"github.com/stickyd/stickyd/internal/systemd"
	"github.com/stickyd/stickyd/nodeipc"
)

// Defaults for the zero values of Options.
const (
	DefaultPeekTimeout     = 10 * time.Second
	DefaultStartTimeout    = 30 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	DefaultRestartInitial  = 100 * time.Millisecond
	DefaultRestartMax      = 30 * time.Second
	DefaultHealthyAfter    = 10 * time.Second
	// DefaultMaxPeeking bounds the slow path: each connection on it holds
	// a goroutine, an fd and a peek buffer (about 16 KiB) until its request
	// line or the peek deadline.
	DefaultMaxPeeking = 4096
)

// Options configure a Supervisor. Zero values take the defaults above.
type Options struct {
	// Argv is the worker command and its arguments (required).
	Argv []string
	// Workers is the number of worker slots (required, > 0).
	Workers int
	// Balance names the balancing policy (see balance.New); "" is least-conn.
	Balance string
	// Env is the environment given to workers before the STICKYD_*
	// variables; nil means os.Environ().
	Env []string
	// PeekTimeout bounds how long a client may take to send its request line.
	PeekTimeout time.Duration
	// MaxPeeking caps the connections on the slow path that wait for their
	// request line (or, on the TLS listener, their handshake) at once. A
	// connection beyond it that would take the slow path is refused at
	// accept: 503 with Retry-After: 1 on a plain listener, a close on the
	// TLS one. Connections whose request line is there at accept (the
	// fast path) are not counted. 0 means DefaultMaxPeeking.
	MaxPeeking int
	// StartTimeout bounds how long a worker may take from spawn to Ready;
	// a worker that misses it is killed and respawned.
	StartTimeout time.Duration
	// ShutdownTimeout bounds how long workers may drain on shutdown before
	// their process groups are killed.
	ShutdownTimeout time.Duration
	// RestartInitial, RestartMax and HealthyAfter shape the respawn backoff:
	// delays grow 1.5x from RestartInitial up to RestartMax and start over
	// after a worker was ready for HealthyAfter.
	RestartInitial, RestartMax, HealthyAfter time.Duration
	// ClientAddr says where a client's address (for ip-hash and the
	// worker's RemoteAddr) comes from: ClientAddrPeer ("" too),
	// ClientAddrXFF or ClientAddrProxy. The last two apply only to
	// connections from TrustedProxies.
	ClientAddr string
	// TrustedProxies are the upstreams whose X-Forwarded-For or PROXY
	// header is believed.
	TrustedProxies []netip.Prefix
	// ReloadDrainTimeout bounds how long an old generation keeps serving
	// its sessions after a reload before it is drained (see Reload).
	ReloadDrainTimeout time.Duration
	// MaxGenerations caps the generations running at once, the current one
	// included; a reload beyond it drains the oldest at once.
	MaxGenerations int
	// Notifier receives systemd notifications; nil sends none.
	Notifier *systemd.Notifier
	// Hub receives authenticated hub links (a *hub.Server); nil means
	// hub.Nop, which closes them.
	Hub hub.Hub
	// Logger receives the primary's and the workers' log lines; nil means
	// hclog.NewNullLogger().
	Logger hclog.Logger
	// Metrics, when not nil, counts connections, routing decisions and
	// hand-offs and exports the workers' state (see NewMetrics).
	Metrics *Metrics
	// TLS, when not nil, makes the public listener HTTPS: the primary
	// terminates TLS and relays each connection to its worker through a
	// Unix socket pair (see serveTLSClient). ClientAddr must then be the
	// peer's address.
	TLS *tls.Config
	// WorkerKind is WorkerKindGo, WorkerKindNode or WorkerKindAuto ("" is
	// auto: node when Argv runs node). Node workers are unmodified
	// @socket.io/sticky apps spoken to over Node's IPC channel
	// (docs/node.md); the options below apply to them only.
	WorkerKind string
	// NodeSerialization is the Node channel's serialization, "json" ("")
	// or "advanced" (Buffers cross workers intact).
	NodeSerialization string
	// NodeAckTimeout bounds how long a Node worker may take to acknowledge
	// a connection handed to it before it is restarted
	// (DefaultNodeAckTimeout when 0).
	NodeAckTimeout time.Duration
	// SIDWait bounds how long a request whose sid no Node worker has
	// registered yet waits for the registration before it gets 400
	// (DefaultSIDWait when 0; negative: no wait).
	SIDWait time.Duration
	// NodeSIDs is NodeSIDsStickyd ("" too: Node sids name their worker,
	// so no request waits for the sid table) or NodeSIDsRandom (Engine.IO's
	// own sids, routed through the sid table).
	NodeSIDs string
	// AdapterRelay relays @socket.io/cluster-adapter messages between Node
	// workers; nil means a relay of the Supervisor's own.
	AdapterRelay *hub.AdapterRelay
	// Fleet, when not nil, makes this host one of a fleet in which any host
	// routes any session: instance ids (and so sids) carry its host id,
	// requests for another host's sessions are relayed there, and relays
	// from members are accepted (see fleet.go).
	Fleet *fleet.Fleet
}

// Supervisor is the primary: it spawns and supervises the workers, accepts
// client connections, routes each by its first request line and hands its
// fd to the chosen worker. Create it with New and start it with Run.
type Supervisor struct {
	opts   Options
	log    hclog.Logger
	policy balance.Policy
	hub    hub.Hub
	uid    int
	// kind is the resolved worker kind; nodeMode the Node channel's mode.
	kind     string
	nodeMode nodeipc.Mode
	shimPath string // the Node preload, in dir
	relay    *hub.AdapterRelay

	dir      string // private socket directory
	ctlPath  string
	hubPath  string
	stopping chan struct{} // closed when shutdown begins
	started  atomic.Bool
	connID   atomic.Uint64
	nextInst atomic.Uint32

	// routingMu is the routing lock. It guards the routing table: the
	// worker instances and slots (and their fields marked so), the current
	// generation and its ready instances, the reload record, closing and
	// the change channel. Balancing (pick) runs under it; no I/O does.
	routingMu sync.Mutex
	instances map[uint32]*instance
	slots     []*slot
	gen       uint32
	ready     []balance.Worker // ready instances of generation gen
	closing   bool
	changed   chan struct{} // closed at the next state change (watchLocked)
	reloads   reloadState
	sids      map[string]uint32 // Node sessions: sid -> instance (nodesids.go)
	sidAdded  chan struct{}     // closed at the next sid registration

	clientsMu     sync.Mutex              // guards clients, peeking and clientsClosed
	clients       map[clientConn]struct{} // connections on the slow path, for shutdown to close
	peeking       int                     // slow-path connections before their request line (at most Options.MaxPeeking)
	clientsClosed bool                    // shutdown closed clients: track no more

	relaysMu sync.Mutex           // guards relays and the ids of the relays in it
	relays   map[uint64]*tlsRelay // live TLS relays by the connection id their pair end was last sent under

	fleet fleetState // relays between hosts (Options.Fleet)

	linksMu sync.Mutex                              // guards pending
	pending map[interface{ Close() error }]struct{} // links not yet authenticated

	reloadMu sync.Mutex // serialises Reload
	// reloadGate, when set (by tests), is called by Reload between its
	// running check and the start of its trial slots.
	reloadGate func()

	slotRunners goroutineGroup // superviseSlot and trialSlot, one per slot
	background  goroutineGroup // notify loop, old-generation drainers, Drain senders
	// nodeGoroutines are the Node links' reader, hand-off and writer
	// goroutines; each ends when its link is closed.
	nodeGoroutines goroutineGroup
	connWG         sync.WaitGroup // client connection goroutines
	linkWG         sync.WaitGroup // control and hub link goroutines
}

// New validates opts and returns a Supervisor. It starts nothing.
func New(opts Options) (*Supervisor, error) {
	if len(opts.Argv) == 0 || opts.Argv[0] == "" {
		return nil, ErrNoCommand
	}
	if opts.Workers <= 0 {
		return nil, fmt.Errorf("%w: workers must be > 0, got %d", ErrBadOptions, opts.Workers)
	}
	for _, d := range []*time.Duration{&opts.PeekTimeout, &opts.StartTimeout, &opts.ShutdownTimeout, &opts.RestartInitial, &opts.RestartMax, &opts.HealthyAfter, &opts.ReloadDrainTimeout} {
		if *d < 0 {
			return nil, fmt.Errorf("%w: negative duration %v", ErrBadOptions, *d)
		}
	}
	switch opts.ClientAddr {
	case "", ClientAddrPeer:
	case ClientAddrXFF, ClientAddrProxy:
		if len(opts.TrustedProxies) == 0 {
			return nil, fmt.Errorf("%w: client address from %s needs trusted proxies", ErrBadOptions, opts.ClientAddr)
		}
	default:
		return nil, fmt.Errorf("%w: unknown client address source %q", ErrBadOptions, opts.ClientAddr)
	}
	if opts.TLS != nil && opts.ClientAddr != "" && opts.ClientAddr != ClientAddrPeer {
		return nil, fmt.Errorf("%w: client address from %s needs a plain (non-TLS) listener", ErrBadOptions, opts.ClientAddr)
	}
	if opts.MaxPeeking < 0 {
		return nil, fmt.Errorf("%w: max peeking must be >= 1, got %d", ErrBadOptions, opts.MaxPeeking)
	}
	if opts.MaxGenerations < 0 {
		return nil, fmt.Errorf("%w: max generations must be >= 1, got %d", ErrBadOptions, opts.MaxGenerations)
	}
	kind, err := ResolveWorkerKind(opts.WorkerKind, opts.Argv)
	if err != nil {
		return nil, err
	}
	mode := nodeipc.JSON
	if opts.NodeSerialization != "" {
		if mode, err = nodeipc.ParseMode(opts.NodeSerialization); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadOptions, err)
		}
	}
	switch opts.NodeSIDs {
	case "":
		opts.NodeSIDs = NodeSIDsStickyd
	case NodeSIDsStickyd, NodeSIDsRandom:
	default:
		return nil, fmt.Errorf("%w: node sids %q (want stickyd or random)", ErrBadOptions, opts.NodeSIDs)
	}
	if opts.NodeAckTimeout < 0 {
		return nil, fmt.Errorf("%w: negative node ack timeout %v", ErrBadOptions, opts.NodeAckTimeout)
	}
	policy, err := balance.New(opts.Balance)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadOptions, err)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&opts.PeekTimeout, DefaultPeekTimeout)
	def(&opts.StartTimeout, DefaultStartTimeout)
	def(&opts.ShutdownTimeout, DefaultShutdownTimeout)
	def(&opts.RestartInitial, DefaultRestartInitial)
	def(&opts.RestartMax, DefaultRestartMax)
	def(&opts.HealthyAfter, DefaultHealthyAfter)
	def(&opts.ReloadDrainTimeout, DefaultReloadDrainTimeout)
	if opts.MaxPeeking == 0 {
		opts.MaxPeeking = DefaultMaxPeeking
	}
	if opts.MaxGenerations == 0 {
		opts.MaxGenerations = DefaultMaxGenerations
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Hub == nil {
		opts.Hub = hub.Nop{}
	}
	if opts.Env == nil {
		opts.Env = os.Environ()
	}
	def(&opts.NodeAckTimeout, DefaultNodeAckTimeout)
	def(&opts.SIDWait, DefaultSIDWait)
	if opts.AdapterRelay == nil {
		opts.AdapterRelay = hub.NewAdapterRelay(opts.Logger.Named("adapter-relay"))
	}
	return &Supervisor{
		opts:      opts,
		log:       opts.Logger,
		policy:    policy,
		hub:       opts.Hub,
		kind:      kind,
		nodeMode:  mode,
		relay:     opts.AdapterRelay,
		sids:      make(map[string]uint32),
		uid:       os.Getuid(),
		stopping:  make(chan struct{}),
		instances: make(map[uint32]*instance),
		clients:   make(map[clientConn]struct{}),
		relays:    make(map[uint64]*tlsRelay),
		pending:   make(map[interface{ Close() error }]struct{}),
	}, nil
}

// Run serves ln until ctx is done, then shuts down: it stops accepting,
// sends Drain to every worker, waits up to ShutdownTimeout for them to
// exit, kills the process groups of those left, closes every connection it
// still holds and removes its socket directory. It returns nil after a
// shutdown caused by ctx, or an error if it could not start (ln is closed
// in every case). Run may be called once.
//
// A *net.TCPListener's socket gets TCP_DEFER_ACCEPT (1 s), TCP_NODELAY and
// keep-alive (idle and interval 15 s, 9 probes), which the connections it
// accepts inherit (see docs/architecture.md); the options stay on the
// socket after Run, which matters for a socket-activated one.
func (s *Supervisor) Run(ctx context.Context, ln net.Listener) error {
	if !s.started.CompareAndSwap(false, true) {
		ln.Close()
		return ErrStarted
	}
	s.opts.Metrics.attach(s.opts.Workers, s.Status, s.Running)
	dir, err := os.MkdirTemp("", "stickyd-")
	if err != nil {
		ln.Close()
		return fmt.Errorf("primary: socket dir: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o700); err != nil {
		ln.Close()
		return fmt.Errorf("primary: socket dir: %w", err)
	}
	s.dir = dir
	s.ctlPath = filepath.Join(dir, "ctl.sock")
	s.hubPath = filepath.Join(dir, "hub.sock")
	if s.kind == WorkerKindNode {
		if err := s.writeNodeShim(dir); err != nil {
			ln.Close()
			return err
		}
	}
	ctl, hubLn, err := s.listenLinks()
	if err != nil {
		ln.Close()
		return err
	}

	s.linkWG.Add(2)
	go s.acceptControl(ctl)
	go s.acceptHub(hubLn)

	s.routingMu.Lock()
	for i := 1; i <= s.opts.Workers; i++ {
		sl := &slot{id: i, backoff: newBackoff(s.opts.RestartInitial, s.opts.RestartMax, s.opts.HealthyAfter, nil)}
		s.slots = append(s.slots, sl)
		s.slotRunners.start(func() { s.superviseSlot(sl) })
	}
	s.routingMu.Unlock()
	s.background.start(func() { s.notifyLoop(s.log) })

	pl := s.publicListener(ln)
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		s.acceptClients(pl)
	}()

	<-ctx.Done()
	s.opts.Notifier.Stopping("stopping: draining workers")
	s.log.Info("shutting down", "timeout", s.opts.ShutdownTimeout)
	pl.Close()
	<-acceptDone
	s.shutdownWorkers()
	s.background.stop()
	s.background.wait()
	ctl.Close()
	hubLn.Close()
	s.closeLinks()
	s.linkWG.Wait()
	s.nodeGoroutines.stop()
	s.nodeGoroutines.wait()
	s.clientsMu.Lock()
	s.clientsClosed = true
	for c := range s.clients {
		c.Close()
	}
	s.clientsMu.Unlock()
	s.closeFleetRelays()
	s.connWG.Wait()
	s.log.Info("stopped")
	return nil
}

// shutdownWorkers drains every worker and waits for all slots to end,
// killing what is left after ShutdownTimeout.
func (s *Supervisor) shutdownWorkers() {
	s.routingMu.Lock()
	s.closing = true
	close(s.stopping)
	s.slotRunners.stop() // after closing: a Reload that saw it open starts no slot now
	s.ready = nil
	var insts []*instance
	for _, in := range s.instances {
		if in.state == Ready {
			in.state = Draining
		}
		in.drainSent = true
		insts = append(insts, in)
	}
	s.routingMu.Unlock()

	for _, in := range insts {
		if link := s.linkOf(in); link != nil && s.sendDrainMsg(link) {
			continue
		}
		s.killInstance(in) // not linked yet: nothing to drain
	}
	done := make(chan struct{})
	go func() {
		s.slotRunners.wait()
		close(done)
	}()
	t := time.NewTimer(s.opts.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	s.routingMu.Lock()
	var left []*instance
	for _, in := range s.instances {
		left = append(left, in)
	}
	s.routingMu.Unlock()
	s.log.Warn("workers did not exit in time; killing them", "count", len(left))
	for _, in := range left {
		s.killInstance(in)
	}
	<-done
}

// Running reports whether Run has started and shutdown has not begun.
// Safe for concurrent use.
func (s *Supervisor) Running() bool { return s.started.Load() && !s.isClosing() }

func (s *Supervisor) isClosing() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}
