package admin

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stickyd/stickyd/socketio"
)

// Defaults of Options.
const (
	DefaultNamespace        = "/admin"
	DefaultStatsInterval    = 2 * time.Second
	DefaultRoomScanInterval = 500 * time.Millisecond
	DefaultSessionTTL       = 24 * time.Hour
	DefaultRequestTimeout   = 5 * time.Second
)

// socketsEvent is the server-side event by which a server asks the others
// for their sockets when a UI connects.
const socketsEvent = "admin:sockets"

// Options configure Instrument. The zero value instruments "/" without
// authentication.
type Options struct {
	// Namespace is the namespace the UI connects to (default "/admin").
	Namespace string
	// Namespaces are the namespaces whose sockets, rooms and events the
	// UI sees and acts on (default "/"). Actions naming another namespace
	// are ignored, so the UI never creates one.
	Namespaces []string
	// Auth, when set, requires the UI to log in; nil admits anyone who
	// reaches the namespace.
	Auth *BasicAuth
	// ReadOnly announces no actions and ignores them.
	ReadOnly bool
	// ServerID names this server in the UI (default "hostname#pid").
	ServerID string
	// StatsInterval is how often this server sends its stats (default 2 s).
	StatsInterval time.Duration
	// RoomScanInterval is how often local rooms are compared to find
	// joins and leaves (default 500 ms).
	RoomScanInterval time.Duration
	// SessionTTL is how long a login's session id stays valid (default 24 h).
	SessionTTL time.Duration
	// RequestTimeout bounds gathering the cluster's sockets (default 5 s).
	RequestTimeout time.Duration
	// Logger gets warnings and dropped bad input (default: none).
	Logger hclog.Logger
}

func (o *Options) setDefaults() {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if len(o.Namespaces) == 0 {
		o.Namespaces = []string{"/"}
	}
	if o.ServerID == "" {
		host, _ := os.Hostname()
		o.ServerID = fmt.Sprintf("%s#%d", host, os.Getpid())
	}
	if o.StatsInterval <= 0 {
		o.StatsInterval = DefaultStatsInterval
	}
	if o.RoomScanInterval <= 0 {
		o.RoomScanInterval = DefaultRoomScanInterval
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
}

// Admin is the admin namespace of one server. Close stops it.
type Admin struct {
	io       *socketio.Server
	opts     Options
	nsp      *socketio.Namespace
	watched  map[string]*socketio.Namespace
	features []string
	started  time.Time
	events   *eventBuffer
	rooms    *roomTracker
	upgrades *upgradeWatch

	ctx    context.Context // ends with Close: stops the loops and gatherings
	cancel context.CancelFunc

	mu      sync.Mutex
	running bool
	wg      sync.WaitGroup
}

// Instrument serves the admin namespace on io and starts sending this
// server's stats and events to it. It fails with ErrBadNamespace or
// ErrBadPasswordHash on bad options, before touching io.
func Instrument(io *socketio.Server, opts Options) (*Admin, error) {
	opts.setDefaults()
	var auth *authenticator
	if opts.Auth != nil {
		var err error
		if auth, err = newAuthenticator(*opts.Auth, opts.SessionTTL, opts.Logger); err != nil {
			return nil, err
		}
	}
	if err := checkNamespaces(opts); err != nil {
		return nil, err
	}
	a := &Admin{
		io: io, opts: opts, watched: map[string]*socketio.Namespace{},
		features: features(opts.ReadOnly), started: time.Now(),
		events: &eventBuffer{}, rooms: newRoomTracker(), upgrades: newUpgradeWatch(), running: true,
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.nsp = io.Of(opts.Namespace)
	if auth != nil {
		a.nsp.Use(auth.middleware)
	} else {
		opts.Logger.Warn("admin UI namespace without authentication", "namespace", opts.Namespace)
	}
	if err := a.nsp.OnServerSideEmit(socketsEvent, func(ack socketio.AckFunc) {
		if ack != nil {
			_ = ack(a.localSockets())
		}
	}); err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	a.nsp.OnConnection(a.onAdminConnection)
	for _, name := range opts.Namespaces {
		ns := io.Of(name)
		a.watched[name] = ns
		ns.OnConnection(a.onSocket(ns))
	}
	a.goStart(a.statsLoop)
	a.goStart(a.roomScanLoop)
	return a, nil
}

func checkNamespaces(opts Options) error {
	if !strings.HasPrefix(opts.Namespace, "/") {
		return fmt.Errorf("%w: %q", ErrBadNamespace, opts.Namespace)
	}
	for _, name := range opts.Namespaces {
		if !strings.HasPrefix(name, "/") || name == opts.Namespace {
			return fmt.Errorf("%w: %q", ErrBadNamespace, name)
		}
	}
	return nil
}

// features are the capabilities announced to the UI in "config".
func features(readOnly bool) []string {
	if readOnly {
		return []string{"AGGREGATED_EVENTS", "ALL_EVENTS"}
	}
	return []string{"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"}
}

// goStart runs fn on a goroutine unless the Admin is closed; it reports
// whether it did.
func (a *Admin) goStart(fn func()) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.running {
		return false
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		fn()
	}()
	return true
}

// Close stops the stats and room scan and waits for the Admin's
// goroutines. The namespace stays registered on the server (socketio
// cannot remove one); its handlers keep answering. Close is idempotent.
func (a *Admin) Close() error {
	a.mu.Lock()
	if a.running {
		a.running = false
		a.cancel()
	}
	a.mu.Unlock()
	a.wg.Wait()
	return nil
}

// onAdminConnection greets a UI: its session id after a password login,
// the config, then (gathered on a goroutine) every socket of the cluster.
func (a *Admin) onAdminConnection(s *socketio.Socket) {
	if login, ok := s.Data().(loginData); ok {
		_ = s.Emit("session", login.Session)
	}
	if !a.opts.ReadOnly {
		a.registerActions(s)
	}
	_ = s.Emit("config", map[string]any{"supportedFeatures": a.features})
	a.goStart(func() {
		ctx, cancel := context.WithTimeout(a.ctx, a.opts.RequestTimeout) // Close ends it
		defer cancel()
		_ = s.Emit("all_sockets", a.allSockets(ctx))
	})
}

// localSockets describes this server's sockets of the watched namespaces.
func (a *Admin) localSockets() []socketView {
	views := []socketView{}
	for name, ns := range a.watched {
		for _, s := range ns.Sockets() {
			views = append(views, viewOf(s, name))
		}
	}
	return views
}

// allSockets is localSockets plus every other server's, as JSON values;
// servers that do not answer in time are left out (and logged).
func (a *Admin) allSockets(ctx context.Context) []any {
	all := []any{}
	for _, v := range a.localSockets() {
		all = append(all, v)
	}
	responses, err := a.nsp.ServerSideEmitWithAck(ctx, socketsEvent)
	if err != nil {
		a.opts.Logger.Warn("gathering the sockets of other servers", "error", err)
	}
	for _, r := range responses {
		for _, v := range decodeViews(r) {
			all = append(all, v)
		}
	}
	return all
}
