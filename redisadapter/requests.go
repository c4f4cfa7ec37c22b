package redisadapter

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/stickyd/stickyd/redisproto"
	"github.com/stickyd/stickyd/socketio"
)

// request is one outstanding request of this adapter, keyed by its id in
// Adapter.requests; removed when complete, timed out or closed, so nothing
// outlives its bound.
type request struct {
	id       string
	typ      redisproto.RequestType
	expected int // answers wanted (servers other than this one)
	got      int
	done     chan struct{} // closed once complete or closed
	finished bool
	closed   bool

	sockets   []socketio.SocketInfo
	rooms     []string
	responses []json.RawMessage

	// broadcast with acks
	timer         *time.Timer
	onClientCount func(int)
	onAck         func([]json.RawMessage)
	counted       int // acks announced by client counts
	acks          int
}

// newRequest registers a request; nil after Close.
func (a *Adapter) newRequest(typ redisproto.RequestType, expected int) *request {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.seq++
	r := &request{id: a.peer.uid + strconv.FormatUint(a.seq, 36), typ: typ, expected: expected, done: make(chan struct{})}
	a.requests[r.id] = r
	return r
}

// finish marks r complete; a.mu held.
func (r *request) finish() {
	if !r.finished {
		r.finished = true
		close(r.done)
	}
}

// startRequest counts the other servers and, when there are some,
// registers a request of type typ and publishes it with publish (given the
// request id). It returns nil when no other server exists, and an error
// when Redis is down.
func (a *Adapter) startRequest(ctx context.Context, typ redisproto.RequestType, publish func(id string) bool) (*request, error) {
	n, err := a.wire.servers(ctx)
	if err != nil {
		return nil, err
	}
	expected := n - 1
	if expected <= 0 {
		return nil, nil
	}
	r := a.newRequest(typ, expected)
	if r == nil {
		return nil, ErrClosed
	}
	if !publish(r.id) {
		a.drop(r)
		return nil, fmt.Errorf("%w: request not encodable", ErrUnavailable)
	}
	return r, nil
}

func (a *Adapter) drop(r *request) {
	a.mu.Lock()
	delete(a.requests, r.id)
	a.mu.Unlock()
}

// wait waits for r until it is complete, ctx ends or timeout passes, then
// forgets it. The error wraps socketio.ErrTimeout when answers are missing
// (and ctx's error when ctx ended).
func (a *Adapter) wait(ctx context.Context, r *request, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-r.done:
	case <-ctx.Done():
	case <-timer.C:
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.requests, r.id)
	switch {
	case r.closed:
		return ErrClosed
	case r.got < r.expected:
		r.finish()
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %d of %d servers answered: %w", socketio.ErrTimeout, r.got, r.expected, err)
		}
		return fmt.Errorf("%w: %d of %d servers answered", socketio.ErrTimeout, r.got, r.expected)
	}
	return nil
}

func (a *Adapter) timeoutOf(opts socketio.BroadcastOptions) time.Duration {
	if opts.Flags.Timeout > 0 {
		return opts.Flags.Timeout
	}
	return a.peer.opts.RequestTimeout
}

// FetchSockets describes the target sockets here and on every other
// server. When some servers do not answer in time (or ctx ends) it returns
// what it got and an error wrapping socketio.ErrTimeout; with Redis down,
// the local sockets and an error wrapping ErrUnavailable.
func (a *Adapter) FetchSockets(ctx context.Context, opts socketio.BroadcastOptions) ([]socketio.SocketInfo, error) {
	local, _ := a.InMemoryAdapter.FetchSockets(ctx, opts)
	if opts.Flags.Local {
		return local, nil
	}
	r, err := a.startRequest(ctx, redisproto.TypeRemoteFetch, func(id string) bool { return a.wire.publishFetch(id, opts) })
	if r == nil {
		return local, err
	}
	err = a.wait(ctx, r, a.timeoutOf(opts))
	a.mu.Lock()
	remote := r.sockets
	a.mu.Unlock()
	return append(local, remote...), err
}

// waitRooms collects the answers of an ALL_ROOMS request.
func (a *Adapter) waitRooms(ctx context.Context, r *request) ([]string, error) {
	err := a.wait(ctx, r, a.peer.opts.RequestTimeout)
	a.mu.Lock()
	defer a.mu.Unlock()
	return r.rooms, err
}

// ServerSideEmit sends args ([event, ...]) to the other servers. With
// wantAck it returns the first ack argument of each, when all arrived; when
// ctx ends or the request timeout passes, what arrived and an error
// wrapping socketio.ErrTimeout.
func (a *Adapter) ServerSideEmit(ctx context.Context, args []json.RawMessage, wantAck bool) ([]json.RawMessage, error) {
	if !wantAck {
		a.wire.publishEmit("", args)
		return nil, nil
	}
	r, err := a.startRequest(ctx, redisproto.TypeServerSideEmit, func(id string) bool { return a.wire.publishEmit(id, args) })
	if r == nil {
		return nil, err
	}
	err = a.wait(ctx, r, a.peer.opts.RequestTimeout)
	a.mu.Lock()
	defer a.mu.Unlock()
	return r.responses, err
}

// BroadcastWithAck sends p to the target sockets here and on every other
// server, and returns the number of servers (PUBSUB NUMSUB; 1 when Redis
// is down). Each server's client count and each socket's ack arrive
// through the callbacks; a server silent until the timeout (opts'
// Timeout, else the request timeout) is reported with a count of 0, and
// the request is forgotten then.
func (a *Adapter) BroadcastWithAck(p *socketio.Packet, opts socketio.BroadcastOptions, onClientCount func(int), onAck func([]json.RawMessage)) int {
	if opts.Flags.Local {
		return a.InMemoryAdapter.BroadcastWithAck(p, opts, onClientCount, onAck)
	}
	servers := 1
	n, err := a.wire.servers(context.Background())
	if err == nil && n > 1 {
		servers = n
	}
	if servers > 1 && !a.publishAckRequest(p, opts, servers-1, onClientCount, onAck) {
		servers = 1
	}
	a.InMemoryAdapter.BroadcastWithAck(p, opts, onClientCount, onAck)
	return servers
}

// publishAckRequest registers and publishes the request of a
// broadcast with acks expecting others answers; false when the adapter
// closed meanwhile (nothing was published).
func (a *Adapter) publishAckRequest(p *socketio.Packet, opts socketio.BroadcastOptions, others int, onClientCount func(int), onAck func([]json.RawMessage)) bool {
	r := a.newRequest(redisproto.TypeBroadcast, others)
	if r == nil {
		return false
	}
	a.mu.Lock()
	armed := a.requests[r.id] == r // not ended by Close meanwhile
	if armed {
		r.onClientCount, r.onAck = onClientCount, onAck
		r.timer = time.AfterFunc(a.timeoutOf(opts), func() { a.expireAck(r) })
	}
	a.mu.Unlock()
	if !armed {
		return false
	}
	if !a.wire.publishAckBroadcast(r.id, p, opts) {
		a.expireAck(r) // counts the others as 0
	}
	return true
}

// expireAck forgets an ack request and reports the servers that never
// gave their count as 0 (outside the lock).
func (a *Adapter) expireAck(r *request) {
	a.mu.Lock()
	if a.requests[r.id] != r {
		a.mu.Unlock()
		return
	}
	delete(a.requests, r.id)
	if r.timer != nil { // nil when Close came between registration and arming
		r.timer.Stop()
	}
	missing := r.expected - r.got
	r.got = r.expected
	report := r.onClientCount // nil when never armed
	a.mu.Unlock()
	for range missing {
		if report != nil {
			report(0)
		}
	}
}

// failPending ends every pending request (Close).
func (a *Adapter) failPending() {
	a.mu.Lock()
	a.closed = true
	var acks []*request
	for id, r := range a.requests {
		if r.typ == redisproto.TypeBroadcast {
			acks = append(acks, r)
			continue
		}
		r.closed = true
		r.finish()
		delete(a.requests, id)
	}
	a.mu.Unlock()
	for _, r := range acks {
		a.expireAck(r)
	}
}

// onResponse applies an answer to one of this adapter's requests; answers
// to other servers' requests (on the common channel) are ignored.
func (a *Adapter) onResponse(msg []byte) {
	resp, err := redisproto.DecodeResponse(msg)
	if err != nil {
		a.peer.DropBad(a.name, a.ch.Response, err)
		return
	}
	a.mu.Lock()
	r := a.requests[resp.RequestID]
	if r == nil || r.finished {
		a.mu.Unlock()
		return
	}
	if r.typ == redisproto.TypeBroadcast {
		a.onAckResponse(r, resp) // unlocks
		return
	}
	defer a.mu.Unlock()
	switch r.typ {
	case redisproto.TypeRemoteFetch:
		sockets, err := resp.FetchedSockets()
		if err != nil {
			a.peer.DropBad(a.name, a.ch.Response, err)
			return
		}
		r.sockets = append(r.sockets, sockets...)
	case redisproto.TypeAllRooms:
		r.rooms = append(r.rooms, resp.Rooms...)
	case redisproto.TypeServerSideEmit:
		data := resp.Data
		if data == nil {
			data = jsonNull
		}
		r.responses = append(r.responses, data)
	}
	r.got++
	if r.got >= r.expected {
		r.finish()
	}
}

// onAckResponse handles a client count or an ack of a broadcast; called
// with a.mu held, it unlocks before calling back.
func (a *Adapter) onAckResponse(r *request, resp *redisproto.Response) {
	switch resp.Type {
	case redisproto.TypeBroadcastClientCount:
		r.got++
		r.counted += resp.ClientCount
		a.forgetIfComplete(r)
		a.mu.Unlock()
		r.onClientCount(resp.ClientCount)
	case redisproto.TypeBroadcastAck:
		r.acks++
		a.forgetIfComplete(r)
		a.mu.Unlock()
		arg := resp.Packet
		if arg == nil {
			arg = jsonNull
		}
		r.onAck([]json.RawMessage{arg})
	default:
		a.mu.Unlock()
	}
}

// forgetIfComplete drops r once every server counted and every ack came.
func (a *Adapter) forgetIfComplete(r *request) {
	if r.got >= r.expected && r.acks >= r.counted {
		delete(a.requests, r.id)
		if r.timer != nil {
			r.timer.Stop()
		}
	}
}

// pending reports how many requests are outstanding (tests).
func (a *Adapter) pending() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.requests)
}
