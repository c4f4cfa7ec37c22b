// Package redisemitter publishes to the sockets of a Redis fleet from a Go
// program that is not a Socket.IO server, as Node's
// @socket.io/redis-emitter 5.x does (uid "emitter", classic channels):
//
//	e, err := redisemitter.New(redisemitter.Options{URL: "redis://127.0.0.1:6379"})
//	err = e.To("room1").Emit("news", map[string]any{"id": 1})
//	err = e.Of("/admin").In("ops").SocketsJoin("alerts")
//	e.Close()
//
// Every server of the fleet (Node with @socket.io/redis-adapter, or Go with
// redisadapter) delivers what it publishes. There are no acks (as in Node).
//
// # Concurrency
//
// An Emitter and its operators are immutable and safe for concurrent use;
// each call publishes one message synchronously (bounded by Timeout).
package redisemitter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stickyd/stickyd/redisproto"
	"github.com/stickyd/stickyd/socketio"
)

// ErrBadURL is returned by New for a URL go-redis cannot parse.
var ErrBadURL = errors.New("redisemitter: bad redis URL")

// ErrPublish wraps a failed publication and go-redis' error (a timeout
// after Options.Timeout).
var ErrPublish = errors.New("redisemitter: publish failed")

// Options configure an Emitter.
type Options struct {
	// URL of Redis (redis:// or rediss://).
	URL string
	// Prefix is the fleet's key prefix (default "socket.io").
	Prefix string
	// Timeout bounds one publication, connecting included (default 5 s);
	// a failed publication is not retried.
	Timeout time.Duration
}

// Emitter publishes to namespace "/" (Of selects another).
type Emitter struct {
	client  *redis.Client
	prefix  string
	nsp     string
	opts    socketio.BroadcastOptions
	timeout time.Duration
}

// New connects an Emitter (lazily: the first call dials).
func New(opts Options) (*Emitter, error) {
	ropts, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	ropts.DisableIdentity = true
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	// Without these go-redis waits its own timeouts (and retries), not
	// the publication's context: a silent Redis held Emit for 5 s.
	ropts.ContextTimeoutEnabled = true
	ropts.DialTimeout = opts.Timeout
	ropts.MaxRetries = -1
	if opts.Prefix == "" {
		opts.Prefix = redisproto.DefaultPrefix
	}
	return &Emitter{client: redis.NewClient(ropts), prefix: opts.Prefix, nsp: "/", timeout: opts.Timeout}, nil
}

// Close closes the connection (of every Emitter derived from this one).
func (e *Emitter) Close() error { return e.client.Close() }

func (e *Emitter) with(f func(c *Emitter)) *Emitter {
	c := *e
	c.opts.Rooms = append([]string(nil), e.opts.Rooms...)
	c.opts.Except = append([]string(nil), e.opts.Except...)
	f(&c)
	return &c
}

// Of targets namespace nsp (rooms and flags are reset).
func (e *Emitter) Of(nsp string) *Emitter {
	return e.with(func(c *Emitter) { c.nsp, c.opts = nsp, socketio.BroadcastOptions{} })
}

// To adds target rooms.
func (e *Emitter) To(rooms ...string) *Emitter {
	return e.with(func(c *Emitter) { c.opts.Rooms = append(c.opts.Rooms, rooms...) })
}

// In is To.
func (e *Emitter) In(rooms ...string) *Emitter { return e.To(rooms...) }

// Except excludes the sockets of rooms.
func (e *Emitter) Except(rooms ...string) *Emitter {
	return e.with(func(c *Emitter) { c.opts.Except = append(c.opts.Except, rooms...) })
}

// Volatile marks the broadcast volatile.
func (e *Emitter) Volatile() *Emitter {
	return e.with(func(c *Emitter) { c.opts.Flags.Volatile = true })
}

// Compress sets the compress flag.
func (e *Emitter) Compress(on bool) *Emitter {
	return e.with(func(c *Emitter) { c.opts.Flags.Compress = on })
}

// Emit broadcasts event with args ([]byte arguments travel as binary).
func (e *Emitter) Emit(event string, args ...any) error {
	p, err := socketio.NewEventPacket(e.nsp, event, args...)
	if err != nil {
		return err
	}
	msg, err := redisproto.EncodeBroadcast(redisproto.EmitterUID, p, e.opts)
	if err != nil {
		return err
	}
	return e.publish(redisproto.NewChannels(e.prefix, e.nsp).BroadcastChannel(e.opts.Rooms), msg)
}

// SocketsJoin makes the target sockets join rooms.
func (e *Emitter) SocketsJoin(rooms ...string) error {
	return e.request(&redisproto.Request{Type: redisproto.TypeRemoteJoin, Rooms: rooms})
}

// SocketsLeave makes the target sockets leave rooms.
func (e *Emitter) SocketsLeave(rooms ...string) error {
	return e.request(&redisproto.Request{Type: redisproto.TypeRemoteLeave, Rooms: rooms})
}

// DisconnectSockets disconnects the target sockets (close: their connection too).
func (e *Emitter) DisconnectSockets(close bool) error {
	return e.request(&redisproto.Request{Type: redisproto.TypeRemoteDisconnect, Close: close})
}

// ServerSideEmit sends event to every server's OnServerSideEmit handlers.
func (e *Emitter) ServerSideEmit(event string, args ...any) error {
	data, err := rawArgs(event, args)
	if err != nil {
		return err
	}
	return e.request(&redisproto.Request{UID: redisproto.EmitterUID, Type: redisproto.TypeServerSideEmit, Data: data})
}

func (e *Emitter) request(r *redisproto.Request) error {
	if r.Type != redisproto.TypeServerSideEmit {
		r.HasOpts = true
		r.Opts = socketio.BroadcastOptions{Rooms: e.opts.Rooms, Except: e.opts.Except}
		if r.Rooms == nil {
			r.Rooms = []string{}
		}
	}
	msg, err := redisproto.EncodeRequest(r)
	if err != nil {
		return err
	}
	return e.publish(redisproto.NewChannels(e.prefix, e.nsp).Request, msg)
}

func (e *Emitter) publish(channel string, msg []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	if err := e.client.Publish(ctx, channel, msg).Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrPublish, err)
	}
	return nil
}
