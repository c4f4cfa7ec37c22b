package socketio

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
)

// BroadcastOperator selects sockets of a namespace, cluster-wide, and acts
// on them (Node's BroadcastOperator). It is an immutable value: every
// modifier returns a new operator, so one can be kept and reused. Safe for
// concurrent use.
type BroadcastOperator struct {
	nsp  *Namespace
	opts BroadcastOptions
}

func newBroadcastOperator(n *Namespace) *BroadcastOperator {
	return &BroadcastOperator{nsp: n, opts: BroadcastOptions{Flags: BroadcastFlags{Compress: true}}}
}

func (b *BroadcastOperator) clone() *BroadcastOperator {
	c := *b
	c.opts.Rooms = slices.Clone(b.opts.Rooms)
	c.opts.Except = slices.Clone(b.opts.Except)
	return &c
}

func addUnique(list []string, add []string) []string {
	for _, r := range add {
		if !slices.Contains(list, r) {
			list = append(list, r)
		}
	}
	return list
}

// To adds rooms to the target (union).
func (b *BroadcastOperator) To(rooms ...string) *BroadcastOperator {
	c := b.clone()
	c.opts.Rooms = addUnique(c.opts.Rooms, rooms)
	return c
}

// In is To.
func (b *BroadcastOperator) In(rooms ...string) *BroadcastOperator { return b.To(rooms...) }

// Except excludes the sockets in rooms.
func (b *BroadcastOperator) Except(rooms ...string) *BroadcastOperator {
	c := b.clone()
	c.opts.Except = addUnique(c.opts.Except, rooms)
	return c
}

// Volatile drops the packet for sockets that are not writable right now.
func (b *BroadcastOperator) Volatile() *BroadcastOperator {
	c := b.clone()
	c.opts.Flags.Volatile = true
	return c
}

// Local restricts the operation to this server.
func (b *BroadcastOperator) Local() *BroadcastOperator {
	c := b.clone()
	c.opts.Flags.Local = true
	return c
}

// Compress sets the (advisory) compress flag.
func (b *BroadcastOperator) Compress(compress bool) *BroadcastOperator {
	c := b.clone()
	c.opts.Flags.Compress = compress
	return c
}

// Timeout bounds EmitWithAck and FetchSockets.
func (b *BroadcastOperator) Timeout(d time.Duration) *BroadcastOperator {
	c := b.clone()
	c.opts.Flags.Timeout = d
	return c
}

// Options returns the operator's options.
func (b *BroadcastOperator) Options() BroadcastOptions { return b.clone().opts }

// Emit broadcasts event to the target sockets. The packet is encoded once.
func (b *BroadcastOperator) Emit(event string, args ...any) error {
	p, err := newAppEventPacket(b.nsp.name, event, args)
	if err != nil {
		return err
	}
	b.nsp.adapter.Broadcast(p, b.opts)
	return nil
}

func (b *BroadcastOperator) context(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	if b.opts.Flags.Timeout > 0 {
		return context.WithTimeout(ctx, b.opts.Flags.Timeout)
	}
	return context.WithCancel(ctx)
}

// EmitWithAck broadcasts event and waits for every target socket's
// acknowledgement, returning the first argument of each (Node's
// responses; null for an ack without arguments), in arrival order. The set
// is complete when every server reported its client count and that many
// acks arrived. When ctx is done or the Timeout passes first, it returns
// the answers so far and an error wrapping ErrTimeout.
func (b *BroadcastOperator) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	p, err := newAppEventPacket(b.nsp.name, event, args)
	if err != nil {
		return nil, err
	}
	ctx, cancel := b.context(ctx)
	defer cancel()
	var (
		mu        sync.Mutex
		servers   = -1
		reported  int
		expected  int
		responses []json.RawMessage
		done      = make(chan struct{})
		finished  bool
	)
	check := func() { // mu held
		if !finished && servers >= 0 && reported >= servers && len(responses) >= expected {
			finished = true
			close(done)
		}
	}
	n := b.nsp.adapter.BroadcastWithAck(p, b.opts, func(count int) {
		mu.Lock()
		reported++
		expected += count
		check()
		mu.Unlock()
	}, func(a []json.RawMessage) {
		first := json.RawMessage("null")
		if len(a) > 0 {
			first = a[0]
		}
		mu.Lock()
		if !finished {
			responses = append(responses, first)
			check()
		}
		mu.Unlock()
	})
	mu.Lock()
	servers = n
	check()
	mu.Unlock()
	select {
	case <-done:
		mu.Lock()
		defer mu.Unlock()
		return responses, nil
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		if finished {
			return responses, nil
		}
		finished = true
		return slices.Clone(responses), fmt.Errorf("%w: %d of %d acks", ErrTimeout, len(responses), expected)
	}
}

// FetchSockets describes the target sockets, cluster-wide.
func (b *BroadcastOperator) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	ctx, cancel := b.context(ctx)
	defer cancel()
	infos, err := b.nsp.adapter.FetchSockets(ctx, b.opts)
	out := make([]*RemoteSocket, len(infos))
	for i := range infos {
		out[i] = &RemoteSocket{SocketInfo: infos[i], nsp: b.nsp}
	}
	return out, err
}

// SocketsJoin makes the target sockets join rooms.
func (b *BroadcastOperator) SocketsJoin(rooms ...string) { b.nsp.adapter.AddSockets(b.opts, rooms) }

// SocketsLeave makes the target sockets leave rooms.
func (b *BroadcastOperator) SocketsLeave(rooms ...string) { b.nsp.adapter.DelSockets(b.opts, rooms) }

// DisconnectSockets disconnects the target sockets (close: and their connections).
func (b *BroadcastOperator) DisconnectSockets(close bool) {
	b.nsp.adapter.DisconnectSockets(b.opts, close)
}

// RemoteSocket is a socket returned by FetchSockets: a snapshot of its state
// plus methods that act on it wherever it lives, through the adapter.
type RemoteSocket struct {
	SocketInfo
	nsp *Namespace
}

// Local returns the live socket when it belongs to this process, else nil.
func (r *RemoteSocket) Local() *Socket { return r.local }

func (r *RemoteSocket) target() *BroadcastOperator { return newBroadcastOperator(r.nsp).To(r.ID) }

// Emit sends event to the socket.
func (r *RemoteSocket) Emit(event string, args ...any) error { return r.target().Emit(event, args...) }

// EmitWithAck sends event and waits for the socket's answer (its first ack argument).
func (r *RemoteSocket) EmitWithAck(ctx context.Context, event string, args ...any) (json.RawMessage, error) {
	res, err := r.target().EmitWithAck(ctx, event, args...)
	if len(res) == 0 {
		if err == nil {
			err = ErrDisconnected
		}
		return nil, err
	}
	return res[0], err
}

// Join makes the socket join rooms.
func (r *RemoteSocket) Join(rooms ...string) { r.target().SocketsJoin(rooms...) }

// Leave makes the socket leave rooms.
func (r *RemoteSocket) Leave(rooms ...string) { r.target().SocketsLeave(rooms...) }

// Disconnect disconnects the socket (close: and its connection).
func (r *RemoteSocket) Disconnect(close bool) { r.target().DisconnectSockets(close) }
