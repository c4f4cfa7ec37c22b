package redisadapter

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stickyd/stickyd/redisproto"
)

// Handler receives the messages of one namespace's channels (Subscribe).
// Its methods run on the Peer's subscriber goroutine, one at a time, in the
// order Redis delivered the messages; they must not block (publish with
// Publish, never wait on Redis there). msg is owned by the callee.
//
// The socketio adapter of this package is one Handler; the primary's hub
// (hub.RedisBridge, one per namespace) is another.
type Handler interface {
	// HandleBroadcast gets a message of the broadcast pattern; channel is
	// "<prefix>#<nsp>#" or a room's channel.
	HandleBroadcast(channel string, msg []byte)
	// HandleRequest gets a message of the request channel.
	HandleRequest(msg []byte)
	// HandleResponse gets a message of the common or this peer's own
	// response channel.
	HandleResponse(msg []byte)
	// PeerClosed is called once when the Peer closes while subscribed; the
	// handler ends its pending work.
	PeerClosed()
}

// subscribeTimeout bounds the (un)subscribe commands of Subscribe and
// Unsubscribe, which run when socketio creates or closes a namespace: a
// hung Redis must not hold that up (go-redis keeps the subscriptions and
// makes them on reconnection; Sync waits for them).
const subscribeTimeout = time.Second

// subscription is one namespace's channels and their handler.
type subscription struct {
	name     string
	ch       redisproto.Channels
	specific string
	handler  Handler
	// cluster, in sharded mode, gets every message of the subscription's
	// sharded channels instead of the Handler methods.
	cluster func(channel string, msg []byte)
}

func (s *subscription) plainChannels() []string {
	return []string{s.ch.Request, s.ch.Response, s.specific}
}

// Subscribe subscribes the channels of namespace name (its pattern, its
// request channel, the common response channel and this peer's own) and
// hands their messages to h. Redis being down or hung is not an error
// (it waits at most subscribeTimeout): go-redis keeps the subscriptions
// and makes them on (re)connection (Sync waits for them). It fails with ErrNamespaceTaken when name is subscribed already,
// ErrClosed after Close, ErrBadMode in sharded mode (classic mode only).
func (p *Peer) Subscribe(name string, h Handler) error {
	if p.opts.Mode == ModeSharded {
		return fmt.Errorf("%w: Subscribe speaks the classic mode only", ErrBadMode)
	}
	ch := redisproto.NewChannels(p.opts.Prefix, name)
	sub := &subscription{name: name, ch: ch, specific: ch.SpecificResponse(p.uid), handler: h}
	if err := p.register(sub, sub.plainChannels(), ch.Pattern); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	if err := p.pubsub.PSubscribe(ctx, ch.Pattern); err != nil {
		p.log.Warn("psubscribe failed; retried on reconnection", "pattern", ch.Pattern, "error", err)
	}
	if err := p.pubsub.Subscribe(ctx, sub.plainChannels()...); err != nil {
		p.log.Warn("subscribe failed; retried on reconnection", "nsp", name, "error", err)
	}
	p.passivesFollow(ch.Request, true)
	return nil
}

// register records sub under its name, channels and pattern ("" for
// none); ErrClosed after Close, ErrNamespaceTaken when name has one.
func (p *Peer) register(sub *subscription, channels []string, pattern string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return ErrClosed
	}
	if p.subs[sub.name] != nil {
		return fmt.Errorf("%w: %q", ErrNamespaceTaken, sub.name)
	}
	p.subs[sub.name] = sub
	if pattern != "" {
		p.patterns[pattern] = sub
	}
	for _, c := range channels {
		p.channels[c] = sub
	}
	return nil
}

// Unsubscribe drops namespace name's subscriptions, if h holds them.
func (p *Peer) Unsubscribe(name string, h Handler) {
	sub, running := p.deregister(name, h, func(sub *subscription) []string {
		delete(p.patterns, sub.ch.Pattern)
		return sub.plainChannels()
	})
	if sub == nil || !running {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	_ = p.pubsub.PUnsubscribe(ctx, sub.ch.Pattern)
	_ = p.pubsub.Unsubscribe(ctx, sub.plainChannels()...)
	p.passivesFollow(sub.ch.Request, false)
}

// deregister drops namespace name's subscription and the channels
// channelsOf gives (called with p.mu held), if h holds it; it returns the
// subscription (nil if not h's) and whether the Peer still runs.
func (p *Peer) deregister(name string, h Handler, channelsOf func(*subscription) []string) (*subscription, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sub := p.subs[name]
	if sub == nil || sub.handler != h {
		return nil, p.running
	}
	delete(p.subs, name)
	for _, c := range channelsOf(sub) {
		delete(p.channels, c)
	}
	return sub, p.running
}

// dispatch hands a message to the handler of its channel or pattern.
func (p *Peer) dispatch(m *redis.Message) {
	p.received.Add(1)
	p.mu.RLock()
	var sub *subscription
	broadcast := m.Pattern != ""
	if broadcast {
		sub = p.patterns[m.Pattern]
	} else {
		sub = p.channels[m.Channel]
	}
	p.mu.RUnlock()
	if sub == nil {
		return // unsubscribed meanwhile
	}
	if len(m.Payload) > p.opts.MaxMessageBytes {
		p.DropBad(sub.name, m.Channel, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(m.Payload)))
		return
	}
	payload := []byte(m.Payload)
	switch {
	case sub.cluster != nil:
		sub.cluster(m.Channel, payload)
	case broadcast:
		sub.handler.HandleBroadcast(m.Channel, payload)
	case m.Channel == sub.ch.Request:
		sub.handler.HandleRequest(payload)
	default:
		sub.handler.HandleResponse(payload)
	}
}

// DropBad counts a message dropped as bad (Stats.BadMessages) and logs it
// (the first ten, then every thousandth).
func (p *Peer) DropBad(name, channel string, err error) {
	n := p.badMessages.Add(1)
	if n <= 10 || n%1000 == 0 {
		p.log.Warn("bad message from redis dropped", "nsp", name, "channel", channel, "error", err, "dropped", n)
	}
}
