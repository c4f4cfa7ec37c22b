package redisadapter

import (
	"context"
	"fmt"

	"github.com/stickyd/stickyd/redisproto"
)

// normaliseMode fills the mode defaults and rejects unknown modes.
func normaliseMode(opts *Options) error {
	switch opts.Mode {
	case "":
		opts.Mode = ModeClassic
	case ModeClassic, ModeSharded:
	default:
		return fmt.Errorf("%w: mode %q", ErrBadMode, opts.Mode)
	}
	switch opts.SubscriptionMode {
	case "":
		opts.SubscriptionMode = redisproto.SubscriptionDynamic
	case redisproto.SubscriptionDynamic, redisproto.SubscriptionDynamicPrivate, redisproto.SubscriptionStatic:
	default:
		return fmt.Errorf("%w: subscription mode %q", ErrBadMode, opts.SubscriptionMode)
	}
	return nil
}

// subscribeSharded SSUBSCRIBEs namespace name's main and private channels
// (sharded mode) and hands their messages, and those of the room channels
// added by shardedRooms, to deliver. Errors as Subscribe.
func (p *Peer) subscribeSharded(name string, h Handler, deliver func(channel string, msg []byte)) error {
	ch := redisproto.NewShardedChannels(p.opts.Prefix, name)
	sub := &subscription{name: name, specific: ch.Private(p.uid), handler: h, cluster: deliver}
	if err := p.register(sub, []string{ch.Main, sub.specific}, ""); err != nil {
		return err
	}
	p.shardedCommand(true, ch.Main, sub.specific)
	return nil
}

// unsubscribeSharded drops namespace name's channels and room channels
// (rooms), if h holds them.
func (p *Peer) unsubscribeSharded(name string, h Handler, rooms []string) {
	ch := redisproto.NewShardedChannels(p.opts.Prefix, name)
	var channels []string
	sub, running := p.deregister(name, h, func(sub *subscription) []string {
		channels = append([]string{ch.Main, sub.specific}, rooms...)
		return channels
	})
	if sub != nil && running {
		p.shardedCommand(false, channels...)
	}
}

// shardedRoom (un)subscribes one room channel of namespace name.
func (p *Peer) shardedRoom(name, channel string, subscribe bool) {
	p.mu.Lock()
	sub := p.subs[name]
	if sub == nil || !p.running {
		p.mu.Unlock()
		return
	}
	if subscribe {
		p.channels[channel] = sub
	} else {
		delete(p.channels, channel)
	}
	p.mu.Unlock()
	p.shardedCommand(subscribe, channel)
}

// shardedCommand sends SSUBSCRIBE or SUNSUBSCRIBE, bounded by
// subscribeTimeout; go-redis keeps the set and restores it on reconnection.
func (p *Peer) shardedCommand(subscribe bool, channels ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	var err error
	if subscribe {
		err = p.pubsub.SSubscribe(ctx, channels...)
	} else {
		err = p.pubsub.SUnsubscribe(ctx, channels...)
	}
	if err != nil {
		p.log.Warn("sharded (un)subscribe failed; retried on reconnection", "subscribe", subscribe, "channels", len(channels), "error", err)
	}
}
