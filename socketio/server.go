package socketio

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/engineio"
)

// DefaultPath is where a Server answers unless Options.Path says otherwise.
const DefaultPath = "/socket.io/"

// DefaultConnectTimeout is how long a client may stay connected to the
// engine without joining any namespace.
const DefaultConnectTimeout = 45 * time.Second

// Defaults of the per-socket event queue bound (Options.MaxQueuedEvents,
// Options.EventQueueStall).
const (
	DefaultMaxQueuedEvents = 256
	DefaultEventQueueStall = 5 * time.Second
)

// ReasonEventQueueFull is the disconnect reason of a client cut because a
// socket's event queue stayed full for Options.EventQueueStall.
const ReasonEventQueueFull = "event queue full"

// Options configure a Server. The zero value is usable.
type Options struct {
	// Options configure the Engine.IO layer; Path defaults to "/socket.io/".
	engineio.Options
	// ConnectTimeout closes clients that have not joined a namespace this
	// long after their handshake (default 45 s).
	ConnectTimeout time.Duration
	// MaxAttachments bounds the binary attachments of one incoming packet
	// (default 10; negative: none accepted). A packet announcing more closes
	// the client with reason "parse error".
	MaxAttachments int
	// MaxQueuedEvents bounds the events of one socket waiting for its
	// handlers (default DefaultMaxQueuedEvents). An event that finds the
	// queue full makes the client's reader wait for room, so a client that
	// sends faster than its handlers run is slowed down through TCP, and
	// nothing is lost. The other namespaces' sockets of that client wait
	// too (one reader per connection); other clients do not. The memory
	// one socket holds in events is at most MaxQueuedEvents times
	// MaxHttpBufferSize.
	MaxQueuedEvents int
	// EventQueueStall is how long a reader waits for room in a full event
	// queue (default DefaultEventQueueStall). When no handler of the socket
	// finishes within it (a handler stuck while its client floods), the
	// client is disconnected with reason ReasonEventQueueFull, logged at
	// Warn and counted (Counters.EventQueueFull).
	EventQueueStall time.Duration
	// Adapter builds the adapter of each namespace (default NewInMemoryAdapter).
	Adapter func(nsp *Namespace) Adapter
	// ConnectionStateRecovery, when non-nil, lets clients that lost their
	// connection get their id, rooms, data and missed packets back.
	ConnectionStateRecovery *RecoveryOptions
}

// RecoveryOptions configure connection state recovery.
type RecoveryOptions struct {
	// MaxDisconnectionDuration is how long a session and the packets it may
	// miss are kept (default 2 minutes).
	MaxDisconnectionDuration time.Duration
	// SkipMiddlewares skips namespace middlewares when a session is recovered.
	SkipMiddlewares bool
}

// Server is a Socket.IO v5 server. It is an http.Handler serving
// Options.Path. All methods are safe for concurrent use.
type Server struct {
	opts   Options
	eio    *engineio.Server
	log    hclog.Logger
	tasks  taskGroup // handler goroutines
	mu     sync.Mutex
	nsps   map[string]*Namespace
	parent []*ParentNamespace
	closed bool
	main   *Namespace

	inlineBudget time.Duration // see inlineBudget; only tests change it

	eventQueueStalls atomic.Uint64 // Counters.EventQueueStalls
	eventQueueFull   atomic.Uint64 // Counters.EventQueueFull

	sigs signatures // typed handlers' signatures, by func type
}

// Counters are running totals of a Server, for metrics.
type Counters struct {
	// EventQueueStalls counts events that found their socket's queue full
	// and made the client's reader wait (Options.MaxQueuedEvents).
	EventQueueStalls uint64
	// EventQueueFull counts clients disconnected because a socket's queue
	// stayed full for Options.EventQueueStall.
	EventQueueFull uint64
}

// Counters returns the Server's running totals. Safe for concurrent use.
func (s *Server) Counters() Counters {
	return Counters{EventQueueStalls: s.eventQueueStalls.Load(), EventQueueFull: s.eventQueueFull.Load()}
}

var _ http.Handler = (*Server)(nil)

// NewServer returns a Server with its main namespace "/" created.
func NewServer(opts Options) *Server {
	if opts.Path == "" {
		opts.Path = DefaultPath
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.MaxAttachments == 0 {
		opts.MaxAttachments = DefaultMaxAttachments
	} else if opts.MaxAttachments < 0 {
		opts.MaxAttachments = 0
	}
	if opts.MaxQueuedEvents <= 0 {
		opts.MaxQueuedEvents = DefaultMaxQueuedEvents
	}
	if opts.EventQueueStall <= 0 {
		opts.EventQueueStall = DefaultEventQueueStall
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if r := opts.ConnectionStateRecovery; r != nil {
		rc := *r
		if rc.MaxDisconnectionDuration <= 0 {
			rc.MaxDisconnectionDuration = 2 * time.Minute
		}
		opts.ConnectionStateRecovery = &rc
	}
	s := &Server{opts: opts, log: opts.Logger.Named("socketio"), nsps: map[string]*Namespace{}, inlineBudget: inlineBudget}
	s.eio = engineio.NewServer(opts.Options)
	s.eio.OnConnection(s.onEngineConnection)
	s.main = s.Of("/")
	return s
}

// ServeHTTP serves the Engine.IO transport (Options.Path only).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.eio.ServeHTTP(w, r) }

// Engine returns the underlying Engine.IO server.
func (s *Server) Engine() *engineio.Server { return s.eio }

// Options returns the options with defaults filled.
func (s *Server) Options() Options { return s.opts }

// Of returns the static namespace name, creating it (and its adapter) if
// needed. A name without a leading "/" gets one.
func (s *Server) Of(name string) *Namespace {
	if name == "" || name[0] != '/' {
		name = "/" + name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nsps[name]; n != nil {
		return n
	}
	n := newNamespace(s, name, nil)
	s.nsps[name] = n
	return n
}

// OfFunc registers a dynamic namespace: any namespace name for which match
// returns true is created on first connection, as a child of the returned
// ParentNamespace (Node's io.of((name, auth, next) => ...)). match runs on
// the connecting socket's handler goroutine.
func (s *Server) OfFunc(match func(name string, auth json.RawMessage) bool) *ParentNamespace {
	p := newParentNamespace(s, match)
	s.mu.Lock()
	s.parent = append(s.parent, p)
	s.mu.Unlock()
	return p
}

// OfRegexp registers a dynamic namespace whose names match re (Node's io.of(/regexp/)).
func (s *Server) OfRegexp(re *regexp.Regexp) *ParentNamespace {
	return s.OfFunc(func(name string, _ json.RawMessage) bool { return re.MatchString(name) })
}

// lookupNamespace finds or, through a parent namespace, creates namespace
// name; nil when none matches.
func (s *Server) lookupNamespace(name string, auth json.RawMessage) *Namespace {
	s.mu.Lock()
	if n := s.nsps[name]; n != nil {
		s.mu.Unlock()
		return n
	}
	parents := append([]*ParentNamespace(nil), s.parent...)
	s.mu.Unlock()
	for _, p := range parents {
		if !p.match(name, auth) {
			continue
		}
		s.mu.Lock()
		n := s.nsps[name]
		if n == nil {
			n = newNamespace(s, name, p)
			s.nsps[name] = n
			p.addChild(n)
		}
		s.mu.Unlock()
		return n
	}
	return nil
}

// Use adds a middleware to the main namespace.
func (s *Server) Use(fn func(*Socket) error) { s.main.Use(fn) }

// OnConnection adds a connection handler to the main namespace.
func (s *Server) OnConnection(fn func(*Socket)) { s.main.OnConnection(fn) }

// OnServerSideEmit registers a handler of events other servers send with
// ServerSideEmit on the main namespace (Node's io.on("event", cb)).
func (s *Server) OnServerSideEmit(event string, handler any) error {
	return s.main.OnServerSideEmit(event, handler)
}

// Sockets returns the local sockets of the main namespace.
func (s *Server) Sockets() []*Socket { return s.main.Sockets() }

// To targets rooms of the main namespace.
func (s *Server) To(rooms ...string) *BroadcastOperator { return s.main.To(rooms...) }

// In is To.
func (s *Server) In(rooms ...string) *BroadcastOperator { return s.main.To(rooms...) }

// Except excludes rooms.
func (s *Server) Except(rooms ...string) *BroadcastOperator { return s.main.Except(rooms...) }

// Volatile marks the broadcast volatile.
func (s *Server) Volatile() *BroadcastOperator { return s.main.Volatile() }

// Local restricts the operation to this server.
func (s *Server) Local() *BroadcastOperator { return s.main.Local() }

// Compress sets the compress flag.
func (s *Server) Compress(c bool) *BroadcastOperator { return s.main.Compress(c) }

// Timeout bounds EmitWithAck and FetchSockets.
func (s *Server) Timeout(d time.Duration) *BroadcastOperator { return s.main.Timeout(d) }

// Emit broadcasts event to every socket of the main namespace.
func (s *Server) Emit(event string, args ...any) error { return s.main.Emit(event, args...) }

// EmitWithAck broadcasts event to the main namespace and collects the acks.
func (s *Server) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	return s.main.EmitWithAck(ctx, event, args...)
}

// FetchSockets describes every socket of the main namespace, cluster-wide.
func (s *Server) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	return s.main.FetchSockets(ctx)
}

// SocketsJoin makes every socket of the main namespace join rooms.
func (s *Server) SocketsJoin(rooms ...string) { s.main.SocketsJoin(rooms...) }

// SocketsLeave makes every socket of the main namespace leave rooms.
func (s *Server) SocketsLeave(rooms ...string) { s.main.SocketsLeave(rooms...) }

// DisconnectSockets disconnects every socket of the main namespace.
func (s *Server) DisconnectSockets(close bool) { s.main.DisconnectSockets(close) }

// ServerSideEmit sends event to the other servers of the cluster (main namespace).
func (s *Server) ServerSideEmit(event string, args ...any) error {
	return s.main.ServerSideEmit(event, args...)
}

// ServerSideEmitWithAck sends event to the other servers and collects their answers.
func (s *Server) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	return s.main.ServerSideEmitWithAck(ctx, event, args...)
}

// ServerCount reports the number of servers in the cluster.
func (s *Server) ServerCount(ctx context.Context) (int, error) { return s.main.ServerCount(ctx) }

// Close disconnects every socket with reason "server shutting down", closes
// the adapters and the engine (which refuses new sessions), and waits for
// running handlers to return. Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	nsps := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		nsps = append(nsps, n)
	}
	s.mu.Unlock()
	for _, n := range nsps {
		for _, sock := range n.Sockets() {
			sock.client.shuttingDown()
		}
	}
	err := s.eio.Close()
	for _, n := range nsps {
		if e := n.adapter.Close(); e != nil && err == nil {
			err = fmt.Errorf("socketio: closing adapter of %s: %w", n.name, e)
		}
	}
	s.tasks.Wait()
	return err
}

func (s *Server) onEngineConnection(conn *engineio.Socket) {
	newClient(s, conn)
}
