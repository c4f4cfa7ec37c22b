package redisadapter

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
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
	// MaxMessageBytes drops larger messages from Redis unread (counted as
	// bad). Default DefaultMaxMessageBytes.
	MaxMessageBytes int
	// PublishQueue is how many messages may wait to be published; a
	// message beyond it is dropped and counted. Default DefaultPublishQueue.
	PublishQueue int
}

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
	opts     Options
	log      hclog.Logger
	uid      string
	client   *redis.Client
	pubsub   *redis.PubSub
	queue    chan outgoing
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu       sync.RWMutex
	running  bool
	patterns map[string]*Adapter // broadcast pattern -> adapter
	channels map[string]*Adapter // request and response channels -> adapter
	adapters map[string]*Adapter // namespace -> adapter
	syncs    map[string]chan struct{}
	syncSeq  uint64

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
	ropts.DialTimeout = time.Second
	ropts.ReadTimeout = 2 * time.Second
	ropts.WriteTimeout = 2 * time.Second
	ropts.PoolSize = 4
	ropts.DisableIdentity = true
	client := redis.NewClient(ropts)
	p := &Peer{
		opts: opts, log: opts.Logger, uid: newUID(), client: client,
		queue: make(chan outgoing, opts.PublishQueue), stop: make(chan struct{}),
		patterns: map[string]*Adapter{}, channels: map[string]*Adapter{}, adapters: map[string]*Adapter{},
		syncs: map[string]chan struct{}{}, running: true,
	}
	p.pubsub = client.Subscribe(context.Background())
	p.startGoroutine(p.receiveLoop)
	p.startGoroutine(p.publishLoop)
	return p, nil
}

// newUID is 6 random letters and digits, as Node's uid2(6).
func newUID() string {
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

// UID is this peer's uid on the wire.
func (p *Peer) UID() string { return p.uid }

// Adapter builds the adapter of nsp; install it as socketio.Options.Adapter.
func (p *Peer) Adapter(nsp *socketio.Namespace) socketio.Adapter { return newAdapter(p, nsp) }

// Stats reports the counters.
func (p *Peer) Stats() Stats {
	return Stats{
		Up: p.up.Load(), Published: p.published.Load(), PublishErrors: p.publishErrors.Load(),
		Dropped: p.dropped.Load(), Received: p.received.Load(), BadMessages: p.badMessages.Load(),
		Reconnects: p.reconnects.Load(),
	}
}

// Close stops the Peer: pending requests of every adapter end with
// ErrClosed, queued messages are dropped, both connections close. Safe to
// call more than once.
func (p *Peer) Close() error {
	p.mu.Lock()
	p.running = false
	adapters := make([]*Adapter, 0, len(p.adapters))
	for _, a := range p.adapters {
		adapters = append(adapters, a)
	}
	for token, ch := range p.syncs {
		close(ch)
		delete(p.syncs, token)
	}
	p.mu.Unlock()
	for _, a := range adapters {
		a.failPending()
	}
	p.stopOnce.Do(func() { close(p.stop) })
	err := p.pubsub.Close()
	p.wg.Wait()
	if cerr := p.client.Close(); err == nil {
		err = cerr
	}
	return err
}

// Sync waits until every subscription issued so far is in place on Redis
// (a PING queued behind them was answered), or ctx ends.
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
			return fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
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
		return fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
	}
}

func (p *Peer) isRunning() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.running
}

// register subscribes a's channels. Redis being down is not an error:
// go-redis keeps the subscriptions and makes them on (re)connection.
func (p *Peer) register(a *Adapter) error {
	p.mu.Lock()
	if !p.running {
		p.mu.Unlock()
		return ErrClosed
	}
	if p.adapters[a.name] != nil {
		p.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNamespaceTaken, a.name)
	}
	p.adapters[a.name] = a
	p.patterns[a.ch.Pattern] = a
	for _, c := range a.subscribedChannels() {
		p.channels[c] = a
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.RequestTimeout)
	defer cancel()
	if err := p.pubsub.PSubscribe(ctx, a.ch.Pattern); err != nil {
		p.log.Warn("psubscribe failed; retried on reconnection", "pattern", a.ch.Pattern, "error", err)
	}
	if err := p.pubsub.Subscribe(ctx, a.subscribedChannels()...); err != nil {
		p.log.Warn("subscribe failed; retried on reconnection", "nsp", a.name, "error", err)
	}
	return nil
}

// unregister drops a's subscriptions.
func (p *Peer) unregister(a *Adapter) {
	p.mu.Lock()
	if p.adapters[a.name] != a {
		p.mu.Unlock()
		return
	}
	delete(p.adapters, a.name)
	delete(p.patterns, a.ch.Pattern)
	for _, c := range a.subscribedChannels() {
		delete(p.channels, c)
	}
	running := p.running
	p.mu.Unlock()
	if !running {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.RequestTimeout)
	defer cancel()
	_ = p.pubsub.PUnsubscribe(ctx, a.ch.Pattern)
	_ = p.pubsub.Unsubscribe(ctx, a.subscribedChannels()...)
}

// publish queues payload for channel; it never blocks. A full queue, or a
// volatile message while Redis is down, drops it (counted).
func (p *Peer) publish(channel string, payload []byte, volatile bool) {
	if volatile && !p.up.Load() {
		p.dropped.Add(1)
		return
	}
	select {
	case p.queue <- outgoing{channel: channel, payload: payload}:
	default:
		p.dropped.Add(1)
	}
}

// publishAndWait queues payload and waits until Redis has taken it (or
// refused it), at most RequestTimeout; it does not wait while Redis is
// down. Messages published by anyone afterwards are then delivered after
// it to every subscriber (Redis keeps publication order).
func (p *Peer) publishAndWait(channel string, payload []byte) {
	if !p.up.Load() {
		p.publish(channel, payload, false)
		return
	}
	written := make(chan struct{})
	select {
	case p.queue <- outgoing{channel: channel, payload: payload, written: written}:
	default:
		p.dropped.Add(1)
		return
	}
	timer := time.NewTimer(p.opts.RequestTimeout)
	defer timer.Stop()
	select {
	case <-written:
	case <-timer.C:
	case <-p.stop:
	}
}

// numSub is PUBSUB NUMSUB of channel: how many servers subscribe to it.
func (p *Peer) numSub(ctx context.Context, channel string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.RequestTimeout)
	defer cancel()
	res, err := p.client.PubSubNumSub(ctx, channel).Result()
	if err != nil {
		return 0, fmt.Errorf("%w: PUBSUB NUMSUB: %v", ErrUnavailable, err)
	}
	return int(res[channel]), nil
}

// publishLoop publishes queued messages in order, several per round trip.
func (p *Peer) publishLoop() {
	batch := make([]outgoing, 0, 256)
	for {
		select {
		case <-p.stop:
			for {
				select {
				case m := <-p.queue:
					p.dropped.Add(1)
					if m.written != nil {
						close(m.written)
					}
				default:
					return
				}
			}
		case m := <-p.queue:
			batch = append(batch[:0], m)
		}
	fill:
		for len(batch) < cap(batch) {
			select {
			case m := <-p.queue:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		p.publishBatch(batch)
	}
}

func (p *Peer) publishBatch(batch []outgoing) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	defer func() {
		for _, m := range batch {
			if m.written != nil {
				close(m.written)
			}
		}
	}()
	cmds, err := p.client.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, m := range batch {
			pipe.Publish(ctx, m.channel, m.payload)
		}
		return nil
	})
	if err == nil {
		p.published.Add(uint64(len(batch)))
		return
	}
	failed := 0
	for _, c := range cmds {
		if c.Err() != nil {
			failed++
		}
	}
	if failed == 0 {
		failed = len(batch)
	}
	if p.publishErrors.Add(uint64(failed)) == uint64(failed) || p.up.Load() {
		p.log.Warn("publish failed", "messages", failed, "error", err)
	}
	p.published.Add(uint64(len(batch) - failed))
}

// receiveLoop reads the subscriber connection until Close, reconnecting
// with backoff (go-redis resubscribes every channel and pattern on the
// new connection).
func (p *Peer) receiveLoop() {
	backoff := minBackoff
	for {
		msg, err := p.pubsub.ReceiveTimeout(context.Background(), 5*time.Second)
		select {
		case <-p.stop:
			return
		default:
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && p.up.Load() {
				// idle: check the connection is alive; its error shows next round
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = p.pubsub.Ping(ctx)
				cancel()
				continue
			}
			p.setDown(err)
			select {
			case <-p.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
		switch m := msg.(type) {
		case *redis.Message:
			p.setUp()
			p.dispatch(m)
		case *redis.Subscription:
			p.setUp()
		case *redis.Pong:
			p.setUp()
			p.mu.Lock()
			if ch := p.syncs[m.Payload]; ch != nil {
				close(ch)
				delete(p.syncs, m.Payload)
			}
			p.mu.Unlock()
		}
	}
}

func (p *Peer) setUp() {
	if p.up.CompareAndSwap(false, true) {
		if p.downs.Load() > 0 {
			p.reconnects.Add(1)
			p.log.Info("redis up again: subscriptions restored", "uid", p.uid)
		} else {
			p.log.Info("redis up", "uid", p.uid)
		}
	}
}

func (p *Peer) setDown(err error) {
	if p.up.CompareAndSwap(true, false) {
		p.downs.Add(1)
		p.log.Warn("redis down: local delivery goes on, fleet requests fail until it is back", "error", err)
	} else if p.downs.Load() == 0 && p.received.Load() == 0 {
		p.downs.Add(1)
		p.log.Warn("redis unreachable", "error", err)
	}
}

// dispatch hands a message to the adapter of its channel or pattern.
func (p *Peer) dispatch(m *redis.Message) {
	p.received.Add(1)
	p.mu.RLock()
	var a *Adapter
	broadcast := m.Pattern != ""
	if broadcast {
		a = p.patterns[m.Pattern]
	} else {
		a = p.channels[m.Channel]
	}
	p.mu.RUnlock()
	if a == nil {
		return // unsubscribed meanwhile
	}
	if len(m.Payload) > p.opts.MaxMessageBytes {
		p.bad(a, m.Channel, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(m.Payload)))
		return
	}
	payload := []byte(m.Payload)
	switch {
	case broadcast:
		a.onBroadcast(m.Channel, payload)
	case m.Channel == a.ch.Request:
		a.onRequest(payload)
	default:
		a.onResponse(payload)
	}
}

// bad counts and logs a dropped message.
func (p *Peer) bad(a *Adapter, channel string, err error) {
	n := p.badMessages.Add(1)
	if n <= 10 || n%1000 == 0 {
		p.log.Warn("bad message from redis dropped", "nsp", a.name, "channel", channel, "error", err, "dropped", n)
	}
}
