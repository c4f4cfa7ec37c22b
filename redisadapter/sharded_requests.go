package redisadapter

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/stickyd/stickyd/redisproto"
	"github.com/stickyd/stickyd/socketio"
)

// startClusterRequest counts the other servers (SHARDNUMSUB) and, when
// there are some, registers a request of kind typ and publishes m with its
// id. It returns nil when no other server exists, an error when Redis is
// down.
func (a *ShardedAdapter) startClusterRequest(ctx context.Context, typ redisproto.RequestType, m *redisproto.ClusterMessage) (*request, error) {
	n, err := a.peer.ShardNumSub(ctx, a.sch.Main)
	if err != nil {
		return nil, err
	}
	if n <= 1 {
		return nil, nil
	}
	r := a.newRequest(typ, n-1)
	if r == nil {
		return nil, ErrClosed
	}
	m.RequestID = r.id
	if !a.publish(m, false) {
		a.drop(r)
		return nil, fmt.Errorf("%w: request not encodable", ErrUnavailable)
	}
	return r, nil
}

// FetchSockets describes the target sockets here and on every other
// server; errors as Adapter.FetchSockets.
func (a *ShardedAdapter) FetchSockets(ctx context.Context, opts socketio.BroadcastOptions) ([]socketio.SocketInfo, error) {
	local, _ := a.InMemoryAdapter.FetchSockets(ctx, opts)
	if opts.Flags.Local {
		return local, nil
	}
	r, err := a.startClusterRequest(ctx, redisproto.TypeRemoteFetch, &redisproto.ClusterMessage{
		Type: redisproto.ClusterFetchSockets, Opts: wireOpts(socketio.BroadcastOptions{Rooms: opts.Rooms, Except: opts.Except})})
	if r == nil {
		return local, err
	}
	err = a.wait(ctx, r, a.timeoutOf(opts))
	a.mu.Lock()
	remote := r.sockets
	a.mu.Unlock()
	return append(local, remote...), err
}

// ServerSideEmit sends args ([event, ...]) to the other servers; with
// wantAck it collects each server's answer (as Adapter.ServerSideEmit).
func (a *ShardedAdapter) ServerSideEmit(ctx context.Context, args []json.RawMessage, wantAck bool) ([]json.RawMessage, error) {
	m := &redisproto.ClusterMessage{Type: redisproto.ClusterServerSideEmit, Args: args}
	if !wantAck {
		a.publish(m, false)
		return nil, nil
	}
	r, err := a.startClusterRequest(ctx, redisproto.TypeServerSideEmit, m)
	if r == nil {
		return nil, err
	}
	err = a.wait(ctx, r, a.peer.opts.RequestTimeout)
	a.mu.Lock()
	defer a.mu.Unlock()
	return r.responses, err
}

// BroadcastWithAck sends p here and to every other server and returns the
// number of servers (SHARDNUMSUB); callbacks as Adapter.BroadcastWithAck.
func (a *ShardedAdapter) BroadcastWithAck(p *socketio.Packet, opts socketio.BroadcastOptions, onClientCount func(int), onAck func([]json.RawMessage)) int {
	if opts.Flags.Local {
		return a.InMemoryAdapter.BroadcastWithAck(p, opts, onClientCount, onAck)
	}
	servers := 1
	if n, err := a.peer.ShardNumSub(context.Background(), a.sch.Main); err == nil && n > 1 {
		servers = n
	}
	if servers > 1 && !a.publishClusterAck(p, opts, servers-1, onClientCount, onAck) {
		servers = 1
	}
	a.InMemoryAdapter.BroadcastWithAck(p, opts, onClientCount, onAck)
	return servers
}

func (a *ShardedAdapter) publishClusterAck(p *socketio.Packet, opts socketio.BroadcastOptions, others int, onClientCount func(int), onAck func([]json.RawMessage)) bool {
	r := a.newRequest(redisproto.TypeBroadcast, others)
	if r == nil {
		return false
	}
	a.mu.Lock()
	armed := a.requests[r.id] == r
	if armed {
		r.onClientCount, r.onAck = onClientCount, onAck
		r.timer = time.AfterFunc(a.timeoutOf(opts), func() { a.expireAck(r) })
	}
	a.mu.Unlock()
	if !armed {
		return false
	}
	if !a.publish(&redisproto.ClusterMessage{Type: redisproto.ClusterBroadcast, RequestID: r.id, Packet: p, Opts: wireOpts(opts)}, false) {
		a.expireAck(r)
	}
	return true
}

// deliver handles one message of the namespace's sharded channels (on the
// Peer's subscriber goroutine).
func (a *ShardedAdapter) deliver(channel string, msg []byte) {
	m, err := redisproto.DecodeCluster(msg)
	if err != nil {
		a.peer.DropBad(a.name, channel, err)
		return
	}
	if m.NSP != a.name {
		a.peer.DropBad(a.name, channel, fmt.Errorf("%w: %q", redisproto.ErrForeignNamespace, m.NSP))
		return
	}
	if m.UID == a.peer.uid {
		return // our own: applied locally when sent
	}
	if m.Type.IsResponse() {
		a.onClusterResponse(channel, m)
		return
	}
	a.onClusterMessage(m)
}

// onClusterMessage applies another server's message to the local sockets
// and answers it when it has a requestId.
func (a *ShardedAdapter) onClusterMessage(m *redisproto.ClusterMessage) {
	opts := localOpts(m.Opts)
	switch m.Type {
	case redisproto.ClusterBroadcast:
		if m.RequestID == "" {
			a.InMemoryAdapter.Broadcast(m.Packet, opts)
			return
		}
		a.InMemoryAdapter.BroadcastWithAck(m.Packet, opts, func(n int) {
			a.respond(m.UID, &redisproto.ClusterMessage{Type: redisproto.ClusterBroadcastClientCount, RequestID: m.RequestID, ClientCount: n})
		}, func(args []json.RawMessage) {
			a.respond(m.UID, &redisproto.ClusterMessage{Type: redisproto.ClusterBroadcastAck, RequestID: m.RequestID, Ack: firstArg(args)})
		})
	case redisproto.ClusterSocketsJoin:
		a.InMemoryAdapter.AddSockets(opts, m.Rooms)
	case redisproto.ClusterSocketsLeave:
		a.InMemoryAdapter.DelSockets(opts, m.Rooms)
	case redisproto.ClusterDisconnectSockets:
		a.InMemoryAdapter.DisconnectSockets(opts, m.Close)
	case redisproto.ClusterFetchSockets:
		infos, _ := a.InMemoryAdapter.FetchSockets(context.Background(), opts)
		a.respond(m.UID, &redisproto.ClusterMessage{Type: redisproto.ClusterFetchSocketsResponse, RequestID: m.RequestID, Sockets: infos})
	case redisproto.ClusterServerSideEmit:
		a.onClusterServerSideEmit(m)
	}
}

func (a *ShardedAdapter) onClusterServerSideEmit(m *redisproto.ClusterMessage) {
	if m.RequestID == "" {
		a.nsp.DispatchServerSideEmit(m.Args, nil)
		return
	}
	var once sync.Once
	a.nsp.DispatchServerSideEmit(m.Args, func(args []json.RawMessage) {
		once.Do(func() { // one answer per server, as Node
			a.respond(m.UID, &redisproto.ClusterMessage{Type: redisproto.ClusterServerSideEmitResp, RequestID: m.RequestID, Ack: firstArg(args)})
		})
	})
}

// onClusterResponse applies an answer to one of this adapter's requests.
func (a *ShardedAdapter) onClusterResponse(channel string, m *redisproto.ClusterMessage) {
	a.mu.Lock()
	r := a.requests[m.RequestID]
	if r == nil || r.finished {
		a.mu.Unlock()
		return
	}
	if r.typ == redisproto.TypeBroadcast {
		resp := &redisproto.Response{Type: redisproto.TypeBroadcastAck, RequestID: m.RequestID, Packet: m.Ack}
		if m.Type == redisproto.ClusterBroadcastClientCount {
			resp = &redisproto.Response{Type: redisproto.TypeBroadcastClientCount, RequestID: m.RequestID, ClientCount: m.ClientCount}
		} else if m.Type != redisproto.ClusterBroadcastAck {
			a.mu.Unlock()
			return
		}
		a.onAckResponse(r, resp) // unlocks
		return
	}
	defer a.mu.Unlock()
	switch {
	case r.typ == redisproto.TypeRemoteFetch && m.Type == redisproto.ClusterFetchSocketsResponse:
		r.sockets = append(r.sockets, m.Sockets...)
	case r.typ == redisproto.TypeServerSideEmit && m.Type == redisproto.ClusterServerSideEmitResp:
		data := m.Ack
		if data == nil {
			data = jsonNull
		}
		r.responses = append(r.responses, data)
	default:
		a.peer.DropBad(a.name, channel, fmt.Errorf("%w: response type %d to another request", redisproto.ErrMalformed, m.Type))
		return
	}
	r.got++
	if r.got >= r.expected {
		r.finish()
	}
}
