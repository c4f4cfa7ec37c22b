package worker

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/ipc"
)

// Options configure ListenOptions. The zero value is what Listen uses.
type Options struct {
	// Logger receives the Listener's logs; default hclog.NewNullLogger().
	Logger hclog.Logger
	// Exit ends the process when the primary goes away; default os.Exit.
	Exit func(code int)
	// ExitDelay is how long after the primary goes away Exit is called,
	// to let the app see Draining; default 500 ms, at most 1 s.
	ExitDelay time.Duration
	// HandshakeTimeout bounds the wait for the primary's Welcome; default 10 s.
	HandshakeTimeout time.Duration
	// Getenv reads the environment; default os.Getenv.
	Getenv func(string) string
	// MaxAcceptQueue bounds the connections received from the primary and
	// not yet accepted by the app (default DefaultMaxAcceptQueue). At the
	// bound the Listener stops reading its control link, which pushes
	// back on the primary (see waitForRoom) until Accept takes one.
	MaxAcceptQueue int
	// AcceptQueueStall is how long a full accept queue may go without an
	// Accept before the Listener takes the app to be stuck, reads its
	// control link again and answers each connection that finds the queue
	// full with 503 (Retry-After: 1), counted in Counters.AcceptQueueRefused,
	// until Accept takes a connection (default DefaultAcceptQueueStall).
	AcceptQueueStall time.Duration
}

// loadInterval is the minimum time between two Load messages.
const loadInterval = 5 * time.Millisecond

// Listener is a net.Listener of the connections the primary hands off to
// this worker, or a plain TCP listener when not running under stickyd.
type Listener struct {
	opts    Options
	log     hclog.Logger
	managed bool
	env     env
	gen     int
	cc      *ipc.ControlConn // nil standalone
	tcp     net.Listener     // nil managed
	addr    net.Addr

	mu       sync.Mutex
	queue    []*Conn // received, not yet accepted; at most opts.MaxAcceptQueue
	live     int     // received and not closed (queued included)
	closed   bool    // Accept refuses; new conns are handed back
	lost     bool    // the primary went away
	shedding bool    // the queue stayed full past AcceptQueueStall; see waitForRoom

	acceptReady   chan struct{} // cap 1: the queue may be non-empty
	acceptRoom    chan struct{} // cap 1: Accept took a conn (waitForRoom)
	acceptStalls  atomic.Uint64
	acceptRefused atomic.Uint64
	done          chan struct{} // closed when Accept stops
	stopOnce      sync.Once

	draining      chan struct{}
	drainOnce     sync.Once
	drainDeadline atomic.Int64 // unix nanoseconds, 0 = none
	retired       atomic.Bool  // a newer generation serves new sessions (MsgRetire)

	sessions atomic.Int64
	received atomic.Uint64
	loadKick chan struct{} // cap 1
	loops    sync.WaitGroup
}

var _ net.Listener = (*Listener)(nil)

// Listen returns the Listener for this process: under stickyd (STICKYD_SOCKET
// set) it dials the primary's control socket, sends Hello with the instance
// id and secret from the environment and waits for the primary's Welcome;
// otherwise it listens on TCP $HOST:$PORT (PORT defaults to 3000, HOST to all
// interfaces). It returns an error wrapping ErrEnv for a bad STICKYD_*
// environment and ErrHandshake when the primary refuses the worker.
func Listen() (*Listener, error) { return ListenOptions(Options{}) }

// ListenOptions is Listen with options.
func ListenOptions(opts Options) (*Listener, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Exit == nil {
		opts.Exit = os.Exit
	}
	if opts.ExitDelay <= 0 {
		opts.ExitDelay = 500 * time.Millisecond
	}
	opts.ExitDelay = min(opts.ExitDelay, time.Second)
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 10 * time.Second
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.MaxAcceptQueue <= 0 {
		opts.MaxAcceptQueue = DefaultMaxAcceptQueue
	}
	if opts.AcceptQueueStall <= 0 {
		opts.AcceptQueueStall = DefaultAcceptQueueStall
	}
	l := &Listener{
		opts:        opts,
		log:         opts.Logger,
		acceptReady: make(chan struct{}, 1),
		acceptRoom:  make(chan struct{}, 1),
		done:        make(chan struct{}),
		draining:    make(chan struct{}),
		loadKick:    make(chan struct{}, 1),
	}
	if opts.Getenv(EnvSocket) == "" {
		addr := standaloneAddr(opts.Getenv)
		tl, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("worker: standalone listen %s: %w", addr, err)
		}
		l.tcp, l.addr = tl, tl.Addr()
		l.log.Info("standalone: not under stickyd", "addr", l.addr.String())
		return l, nil
	}
	e, err := readEnv(opts.Getenv)
	if err != nil {
		return nil, err
	}
	l.managed, l.env, l.gen = true, e, e.generation
	l.addr = &net.UnixAddr{Name: e.socket, Net: "unixpacket"}
	if err := l.handshake(); err != nil {
		return nil, err
	}
	l.log = l.log.With("instance", e.instance)
	l.loops.Add(2)
	go l.recvLoop()
	go l.loadLoop()
	return l, nil
}

func (l *Listener) handshake() error {
	cc, err := ipc.DialControl(l.env.socket)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	hello := ipc.Message{Type: ipc.MsgHello, Instance: l.env.instance, Secret: l.env.secret, PID: uint32(os.Getpid())}
	if err := cc.Send(&hello, -1); err != nil {
		cc.Close()
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	cc.SetReadDeadline(time.Now().Add(l.opts.HandshakeTimeout))
	m, f, err := cc.Recv()
	if f != nil {
		f.Close()
	}
	if err != nil {
		cc.Close()
		return fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	if m.Type != ipc.MsgWelcome || m.Instance != l.env.instance {
		cc.Close()
		return fmt.Errorf("%w: got %s for instance %d, want welcome for %d", ErrHandshake, m.Type, m.Instance, l.env.instance)
	}
	cc.SetReadDeadline(time.Time{})
	l.cc, l.gen = cc, int(m.Generation)
	return nil
}

// recvLoop handles messages from the primary until the link ends.
func (l *Listener) recvLoop() {
	defer l.loops.Done()
	for {
		l.waitForRoom()
		m, f, err := l.cc.Recv()
		if err != nil {
			l.linkLost(err)
			return
		}
		switch m.Type {
		case ipc.MsgConn:
			l.deliver(&m, f)
		case ipc.MsgRetire:
			l.log.Info("retired: a newer generation serves new sessions")
			l.retired.Store(true)
		case ipc.MsgDrain:
			l.log.Info("drain requested", "deadline_ms", m.DeadlineMS)
			l.startDrain(time.Now().Add(time.Duration(m.DeadlineMS) * time.Millisecond))
		default:
			if f != nil {
				f.Close()
			}
			l.log.Warn("unexpected message from primary", "type", m.Type.String())
		}
	}
}

// deliver turns a received fd into a Conn and queues it for Accept, hands
// it straight back when the Listener is closed, or answers it 503 when the
// queue is full (only while shedding: otherwise waitForRoom did not let
// the reader read it). The Conn wraps f itself (see Conn) without checking
// what kind of fd it is: the primary sends TCP sockets only.
func (l *Listener) deliver(m *ipc.Message, f *os.File) {
	var remote net.Addr
	if ap, err := netip.ParseAddrPort(m.Addr); err == nil {
		remote = net.TCPAddrFromAddrPort(ap)
	}
	c := newConn(l, f, m.ConnID, remote, m.Prefix)
	l.received.Add(1)
	l.mu.Lock()
	l.live++
	closed := l.closed
	full := !closed && len(l.queue) >= l.opts.MaxAcceptQueue
	if !closed && !full {
		l.queue = append(l.queue, c)
	}
	l.mu.Unlock()
	l.kickLoad()
	if closed {
		l.handBack(c, c.takePrefix())
		return
	}
	if full {
		l.refuse(c)
		return
	}
	select {
	case l.acceptReady <- struct{}{}:
	default:
	}
}

// Accept waits for and returns the next connection. After Close it returns
// an error wrapping net.ErrClosed.
func (l *Listener) Accept() (net.Conn, error) {
	if !l.managed {
		return l.tcp.Accept()
	}
	for {
		l.mu.Lock()
		if len(l.queue) > 0 {
			c := l.queue[0]
			l.queue[0] = nil
			l.queue = l.queue[1:]
			more := len(l.queue) > 0
			l.shedding = false
			l.mu.Unlock()
			l.tookFromQueue()
			if more {
				select {
				case l.acceptReady <- struct{}{}:
				default:
				}
			}
			return c, nil
		}
		closed := l.closed
		l.mu.Unlock()
		if closed {
			return nil, &net.OpError{Op: "accept", Net: "stickyd", Addr: l.addr, Err: net.ErrClosed}
		}
		select {
		case <-l.acceptReady:
		case <-l.done:
		}
	}
}

// stopAccept makes Accept fail from now on and returns the queued conns.
func (l *Listener) stopAccept() []*Conn {
	var q []*Conn
	l.stopOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		q, l.queue = l.queue, nil
		l.mu.Unlock()
		close(l.done)
	})
	return q
}

// Close stops accepting and closes Draining. Standalone, it closes the TCP
// listener. Under stickyd, connections queued or arriving later are handed
// back to the primary (nothing is dropped), accepted connections stay open,
// and the control link stays up for hand-backs and load reports until the
// last of them is closed. Idempotent.
func (l *Listener) Close() error {
	l.startDrain(time.Time{})
	if !l.managed {
		var err error
		l.stopOnce.Do(func() {
			l.mu.Lock()
			l.closed = true
			l.mu.Unlock()
			close(l.done)
			err = l.tcp.Close()
		})
		return err
	}
	for _, c := range l.stopAccept() {
		l.handBack(c, c.takePrefix())
	}
	l.maybeCloseLink()
	return nil
}

// connClosed is called once per Conn when it is closed.
func (l *Listener) connClosed() {
	l.mu.Lock()
	l.live--
	l.mu.Unlock()
	l.kickLoad()
	l.maybeCloseLink()
}

// maybeCloseLink closes the control link once the Listener is closed and no
// connection it received is open.
func (l *Listener) maybeCloseLink() {
	l.mu.Lock()
	idle := l.closed && l.live == 0
	l.mu.Unlock()
	if idle {
		l.cc.Close()
	}
}

// linkLost handles the end of the control link: when we did not close it,
// the primary is gone and the process exits after ExitDelay.
func (l *Listener) linkLost(err error) {
	select {
	case <-l.cc.Done():
		return // we closed it
	default:
	}
	l.log.Error("control link lost: primary gone, exiting", "error", err, "exit_in", l.opts.ExitDelay)
	l.mu.Lock()
	l.lost = true
	l.mu.Unlock()
	l.startDrain(time.Now().Add(l.opts.ExitDelay))
	for _, c := range l.stopAccept() {
		c.Close()
	}
	l.cc.Close()
	time.AfterFunc(l.opts.ExitDelay, func() { l.opts.Exit(1) })
}

// handBack sends c back to the primary with prefix and closes c.
func (l *Listener) handBack(c *Conn, prefix []byte) error {
	defer c.Close()
	m := ipc.Message{Type: ipc.MsgHandBack, ConnID: c.id, Prefix: prefix}
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("worker: hand back: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = l.cc.Send(&m, int(fd)) }); err != nil {
		serr = err
	}
	if serr != nil {
		l.log.Error("hand back failed", "conn_id", c.id, "error", serr)
		return fmt.Errorf("worker: hand back: %w", serr)
	}
	l.log.Debug("handed back", "conn_id", c.id, "prefix_bytes", len(prefix))
	return nil
}

func (l *Listener) startDrain(deadline time.Time) {
	if !deadline.IsZero() {
		l.drainDeadline.Store(deadline.UnixNano())
	}
	l.drainOnce.Do(func() { close(l.draining) })
}

// kickLoad asks the load loop to report.
func (l *Listener) kickLoad() {
	select {
	case l.loadKick <- struct{}{}:
	default:
	}
}

// loadLoop sends a Load message when the counts changed, at most one per
// loadInterval, until the link closes.
func (l *Listener) loadLoop() {
	defer l.loops.Done()
	var last ipc.Message
	timer := time.NewTimer(loadInterval)
	defer timer.Stop()
	for {
		select {
		case <-l.loadKick:
		case <-l.cc.Done():
			return
		}
		l.mu.Lock()
		cur := ipc.Message{Type: ipc.MsgLoad, Sessions: uint32(max(l.sessions.Load(), 0)), Conns: uint32(l.live), Received: l.received.Load()}
		l.mu.Unlock()
		if cur.Sessions == last.Sessions && cur.Conns == last.Conns && cur.Received == last.Received && last.Type != 0 {
			continue
		}
		if err := l.cc.Send(&cur, -1); err != nil {
			l.log.Debug("load report failed", "error", err)
			continue
		}
		last = cur
		timer.Reset(loadInterval)
		select {
		case <-timer.C:
		case <-l.cc.Done():
			return
		}
	}
}

// Addr returns the TCP address standalone, or the control socket's address
// under stickyd.
func (l *Listener) Addr() net.Addr { return l.addr }

// Managed reports whether this process runs under stickyd.
func (l *Listener) Managed() bool { return l.managed }

// Instance returns this worker's instance id (0 standalone).
func (l *Listener) Instance() uint32 { return l.env.instance }

// WorkerID returns this worker's slot 1..N (0 standalone).
func (l *Listener) WorkerID() int { return l.env.workerID }

// Generation returns the reload generation from the primary's Welcome (0
// standalone).
func (l *Listener) Generation() int { return l.gen }

// HubPath returns the primary's hub socket path, "" standalone.
func (l *Listener) HubPath() string { return l.env.hubSocket }

// Ready tells the primary this worker is ready for connections. Standalone
// it does nothing.
func (l *Listener) Ready() error {
	if !l.managed {
		return nil
	}
	if err := l.cc.Send(&ipc.Message{Type: ipc.MsgReady}, -1); err != nil {
		return fmt.Errorf("worker: ready: %w", err)
	}
	return nil
}

// Draining returns a channel closed when the worker should stop: on the
// primary's Drain, when the primary goes away, or on Close. Standalone it
// is closed only by Close.
func (l *Listener) Draining() <-chan struct{} { return l.draining }

// DrainDeadline returns when the primary stops waiting for this worker to
// drain; zero when no deadline was given.
func (l *Listener) DrainDeadline() time.Time {
	if ns := l.drainDeadline.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// DialHub dials the primary's hub socket and sends the Hello frame that
// authenticates this worker. It returns ErrNotManaged standalone.
func (l *Listener) DialHub() (*ipc.FrameConn, error) {
	if !l.managed || l.env.hubSocket == "" {
		return nil, ErrNotManaged
	}
	fc, err := ipc.DialHub(l.env.hubSocket)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	hello := ipc.AppendHelloFrame(nil, l.env.instance, l.env.secret, uint32(os.Getpid()))
	if err := fc.WriteFrame(ipc.FrameHello, hello); err != nil {
		fc.Close()
		return nil, fmt.Errorf("worker: hub hello: %w", err)
	}
	return fc, nil
}
