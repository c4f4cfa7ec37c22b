package redisadapter

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Publish queues payload for channel; it never blocks. A full queue, or a
// volatile message while Redis is down, drops it (counted).
func (p *Peer) Publish(channel string, payload []byte, volatile bool) {
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

// PublishAndWait queues payload and waits until Redis has taken it (or
// refused it), at most RequestTimeout; it does not wait while Redis is
// down. Messages published by anyone afterwards are then delivered after
// it to every subscriber (Redis keeps publication order).
func (p *Peer) PublishAndWait(channel string, payload []byte) {
	if !p.up.Load() {
		p.Publish(channel, payload, false)
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

// NumSub is PUBSUB NUMSUB of channel: how many servers subscribe to it
// (bounded by the request timeout; an error wraps ErrUnavailable).
func (p *Peer) NumSub(ctx context.Context, channel string) (int, error) {
	return p.countSubscribers(ctx, "NUMSUB", channel)
}

// ShardNumSub is PUBSUB SHARDNUMSUB of channel (sharded mode's NumSub).
func (p *Peer) ShardNumSub(ctx context.Context, channel string) (int, error) {
	return p.countSubscribers(ctx, "SHARDNUMSUB", channel)
}

func (p *Peer) countSubscribers(ctx context.Context, subcommand, channel string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.RequestTimeout)
	defer cancel()
	var res map[string]int64
	var err error
	if subcommand == "SHARDNUMSUB" {
		res, err = p.client.PubSubShardNumSub(ctx, channel).Result()
	} else {
		res, err = p.client.PubSubNumSub(ctx, channel).Result()
	}
	if err != nil {
		return 0, fmt.Errorf("%w: PUBSUB %s: %v", ErrUnavailable, subcommand, err)
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
			if p.opts.Mode == ModeSharded {
				pipe.SPublish(ctx, m.channel, m.payload)
			} else {
				pipe.Publish(ctx, m.channel, m.payload)
			}
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
