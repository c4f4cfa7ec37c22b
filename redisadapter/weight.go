package redisadapter

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// passive is one extra subscriber connection that subscribes to the
// request channel of every namespace and discards what it reads: it makes
// the Peer count as one more server in PUBSUB NUMSUB.
type passive struct {
	pubsub *redis.PubSub
	done   chan struct{} // closed when its reader goroutine has returned
}

// SetRequestWeight makes this Peer count as n servers (at least 1) in
// PUBSUB NUMSUB of the request channel of every namespace it subscribes:
// n − 1 extra connections subscribe to those channels and discard what
// they read. A stickyd host with W workers is W servers of the fleet, so
// that Node's servers wait for W answers from it (docs/architecture.md).
// Redis being down is not an error: go-redis subscribes them when it can.
// It serialises with Subscribe; after Close, and in sharded mode (where
// the count is SHARDNUMSUB of the main channel), it does nothing.
func (p *Peer) SetRequestWeight(n int) {
	if p.opts.Mode == ModeSharded {
		return
	}
	p.weightMu.Lock()
	defer p.weightMu.Unlock()
	n = max(n, 1) - 1
	for len(p.passives) > n {
		last := p.passives[len(p.passives)-1]
		p.passives = p.passives[:len(p.passives)-1]
		_ = last.pubsub.Close()
		<-last.done
	}
	for len(p.passives) < n {
		ps := &passive{pubsub: p.client.Subscribe(context.Background()), done: make(chan struct{})}
		if !p.startGoroutine(func() { p.discardLoop(ps) }) {
			_ = ps.pubsub.Close()
			return
		}
		p.passives = append(p.passives, ps)
		if channels := p.requestChannels(); len(channels) > 0 {
			p.passiveSubscribe(ps, channels...)
		}
	}
}

// RequestWeight is how many servers this Peer counts as (SetRequestWeight).
func (p *Peer) RequestWeight() int {
	p.weightMu.Lock()
	defer p.weightMu.Unlock()
	return len(p.passives) + 1
}

func (p *Peer) requestChannels() []string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]string, 0, len(p.subs))
	for _, sub := range p.subs {
		out = append(out, sub.ch.Request)
	}
	return out
}

func (p *Peer) passiveSubscribe(ps *passive, channels ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.RequestTimeout)
	defer cancel()
	if err := ps.pubsub.Subscribe(ctx, channels...); err != nil {
		p.log.Debug("passive subscribe failed; retried on reconnection", "error", err)
	}
}

// passivesFollow subscribes (or unsubscribes) every passive connection to
// channel, after the Peer's own subscription changed.
func (p *Peer) passivesFollow(channel string, subscribe bool) {
	p.weightMu.Lock()
	defer p.weightMu.Unlock()
	for _, ps := range p.passives {
		if subscribe {
			p.passiveSubscribe(ps, channel)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.opts.RequestTimeout)
		_ = ps.pubsub.Unsubscribe(ctx, channel)
		cancel()
	}
}

// closePassives closes every passive connection (Close).
func (p *Peer) closePassives() {
	p.weightMu.Lock()
	defer p.weightMu.Unlock()
	for _, ps := range p.passives {
		_ = ps.pubsub.Close()
	}
	p.passives = nil
}

// discardLoop reads ps until it or the Peer closes, reconnecting with
// backoff (go-redis resubscribes on the new connection); messages are
// dropped unread.
func (p *Peer) discardLoop(ps *passive) {
	defer close(ps.done)
	backoff := minBackoff
	for {
		_, err := ps.pubsub.ReceiveTimeout(context.Background(), 5*time.Second)
		if errors.Is(err, redis.ErrClosed) {
			return
		}
		select {
		case <-p.stop:
			return
		default:
		}
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			backoff = minBackoff
			continue
		}
		select {
		case <-p.stop:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}
