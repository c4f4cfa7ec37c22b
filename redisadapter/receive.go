package redisadapter

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

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
