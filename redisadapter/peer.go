package redisadapter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/redis/go-redis/v9"

	"github.com/stickyd/stickyd/redisproto"
	"github.com/stickyd/stickyd/socketio"
)

// Defaults of Options.
const (
	DefaultRequestTimeout  = 5 * time.Second
	DefaultMaxMessageBytes = 16 << 20
	DefaultPublishQueue    = 8192
)

// Backoff bounds of the subscriber's reconnection.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// Options configure a Peer.
type Options struct {
	// URL of Redis: redis://[user:pass@]host:port[/db] or rediss://… (TLS).
	URL string
	// Prefix is the key prefix of every channel (Node's "key" option,
	// default "socket.io"). Every server of a fleet must use the same.
	Prefix string
	// RequestTimeout bounds the requests that wait for other servers
	// (FetchSockets, ServerSideEmit with acks, AllRooms, the acks of a
	// broadcast without its own timeout) when the caller's context does not
	// end sooner. Default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Logger receives state changes (Redis up/down) and dropped input;
	// default hclog.NewNullLogger().
	Logger hclog.Logger
	// MaxMessageBytes drops larger messages from Redis undecoded (counted
	// as bad; go-redis has read them already). Default
	// DefaultMaxMessageBytes.
	MaxMessageBytes int
	// PublishQueue is how many messages may wait to be published; a
	// message beyond it is dropped and counted. Default DefaultPublishQueue.
	PublishQueue int
	// Mode is the wire mode: ModeClassic (default, "") or ModeSharded
	// (Redis 7 SSUBSCRIBE/SPUBLISH, as @socket.io/redis-adapter's
	// createShardedAdapter). Every server of a fleet must use the same.
	Mode Mode
	// SubscriptionMode is createShardedAdapter's subscriptionMode (sharded
	// mode only): dynamic (default), dynamic-private or static.
	SubscriptionMode redisproto.SubscriptionMode
}

// Mode is the wire mode of a Peer.
type Mode string

// Wire modes.
const (
	ModeClassic Mode = "classic"
	ModeSharded Mode = "sharded"
)

// Stats are a Peer's counters, for metrics.
type Stats struct {
	// Up is true while the subscriber connection is established.
	Up bool
	// Published counts messages published; PublishErrors those Redis
	// refused or that were lost with the connection; Dropped those not sent
	// because the publish queue was full or the Peer closed.
	Published, PublishErrors, Dropped uint64
	// Received counts messages received; BadMessages those dropped as
	// malformed, too large or of another namespace.
	Received, BadMessages uint64
	// Reconnects counts the subscriber's re-established connections.
	Reconnects uint64
}

// outgoing is one message waiting to be published.
type outgoing struct {
	channel string
	payload []byte
	written chan struct{} // closed once Redis answered (or not); may be nil
}

// Peer is one Go process's membership of a Redis fleet: one publishing
// client and one subscriber connection (go-redis PubSub), shared by the
// adapters of every namespace. Create it with New, install Adapter as
// socketio.Options.Adapter, Close it after the Socket.IO server.
type Peer struct {
	opts   Options
	log    hclog.Logger
	uid    string
	client *redis.Client
	pubsub *redis.PubSub
	queue  chan outgoing
	stop   chan struct{} // closed by Close
	wg     sync.WaitGroup

	mu       sync.RWMutex
	running  bool
	subs     map[string]*subscription // by name (the namespace)
	patterns map[string]*subscription // by broadcast pattern
	channels map[string]*subscription // by request or response channel
	syncs    map[string]chan struct{}
	syncSeq  uint64

	weightMu sync.Mutex // serialises SetRequestWeight with the passives' subscriptions
	passives []*passive // SetRequestWeight's extra request subscribers

	up                                       atomic.Bool
	published, publishErrors, dropped        atomic.Uint64
	received, badMessages, reconnects, downs atomic.Uint64
}

// New connects a Peer to opts.URL. It does not wait for Redis: if Redis
// is down, local operation works and the Peer connects when it can (use
// Sync to wait). It fails only on a bad URL.
func New(opts Options) (*Peer, error) {
	ropts, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	if opts.Prefix == "" {
		opts.Prefix = redisproto.DefaultPrefix
	}
	if err := normaliseMode(&opts); err != nil {
		return nil, err
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if opts.PublishQueue <= 0 {
		opts.PublishQueue = DefaultPublishQueue
	}
	ropts.MaxRetries = -1 // a failed publish is counted, never retried for seconds
	// Callers' contexts bound each command (go-redis otherwise waits its
	// own read timeout: a silent Redis held FetchSockets 2 s past its ctx).
	ropts.ContextTimeoutEnabled = true
	ropts.DialTimeout = time.Second
	ropts.ReadTimeout = 2 * time.Second
	ropts.WriteTimeout = 2 * time.Second
	ropts.PoolSize = 4
	ropts.DisableIdentity = true
	client := redis.NewClient(ropts)
	p := &Peer{
		opts: opts, log: opts.Logger, uid: newUID(opts.Mode), client: client,
		queue: make(chan outgoing, opts.PublishQueue), stop: make(chan struct{}),
		subs: map[string]*subscription{}, patterns: map[string]*subscription{}, channels: map[string]*subscription{},
		syncs: map[string]chan struct{}{}, running: true,
	}
	p.pubsub = client.Subscribe(context.Background())
	p.startGoroutine(p.receiveLoop)
	p.startGoroutine(p.publishLoop)
	return p, nil
}

// newUID is 6 random letters and digits, as Node's uid2(6) in classic
// mode, 16 hex digits (randomBytes(8)) in sharded mode.
func newUID(mode Mode) string {
	if mode == ModeSharded {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// startGoroutine runs fn on a goroutine Close waits for, unless closed.
func (p *Peer) startGoroutine(fn func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		fn()
	}()
	return true
}

// Prefix is the key prefix of this peer's channels.
func (p *Peer) Prefix() string { return p.opts.Prefix }

// UID is this peer's uid on the wire.
func (p *Peer) UID() string { return p.uid }

// Adapter builds the adapter of nsp; install it as socketio.Options.Adapter.
// In sharded mode it is a *ShardedAdapter, else an *Adapter.
func (p *Peer) Adapter(nsp *socketio.Namespace) socketio.Adapter {
	if p.opts.Mode == ModeSharded {
		return newShardedAdapter(p, nsp)
	}
	return newAdapter(p, nsp)
}

// Mode is the Peer's wire mode.
func (p *Peer) Mode() Mode { return p.opts.Mode }

// Stats reports the counters.
func (p *Peer) Stats() Stats {
	return Stats{
		Up: p.up.Load(), Published: p.published.Load(), PublishErrors: p.publishErrors.Load(),
		Dropped: p.dropped.Load(), Received: p.received.Load(), BadMessages: p.badMessages.Load(),
		Reconnects: p.reconnects.Load(),
	}
}

// Close stops the Peer: pending requests of every adapter end with
// ErrClosed, queued messages are dropped, both connections close, and its
// goroutines have ended when it returns. Idempotent: later calls wait for
// the same and return nil.
func (p *Peer) Close() error {
	p.mu.Lock()
	if !p.running {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.running = false
	handlers := make([]Handler, 0, len(p.subs))
	for _, sub := range p.subs {
		handlers = append(handlers, sub.handler)
	}
	for token, ch := range p.syncs {
		close(ch)
		delete(p.syncs, token)
	}
	p.mu.Unlock()
	for _, h := range handlers {
		h.PeerClosed()
	}
	close(p.stop)
	p.closePassives()
	err := p.pubsub.Close()
	p.wg.Wait()
	if cerr := p.client.Close(); err == nil {
		err = cerr
	}
	return err
}

// Sync waits until every subscription issued so far is in place on Redis
// (a PING queued behind them was answered), or ctx ends (an error wrapping
// ErrUnavailable and ctx's error), or the Peer closes (ErrClosed).
func (p *Peer) Sync(ctx context.Context) error {
	p.mu.Lock()
	if !p.running {
		p.mu.Unlock()
		return ErrClosed
	}
	p.syncSeq++
	token := fmt.Sprintf("sync-%d", p.syncSeq)
	ch := make(chan struct{})
	p.syncs[token] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.syncs, token)
		p.mu.Unlock()
	}()
	for {
		if err := p.pubsub.Ping(ctx, token); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		case <-p.stop:
			return ErrClosed
		case <-time.After(minBackoff):
		}
	}
	select {
	case <-ch:
		if !p.isRunning() {
			return ErrClosed
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}

func (p *Peer) isRunning() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.running
}
