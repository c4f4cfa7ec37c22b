package redisadapter

import (
	"context"
	"encoding/json"

	"github.com/stickyd/stickyd/redisproto"
	"github.com/stickyd/stickyd/socketio"
)

// wire is what differs between the wire modes in the requests an adapter
// makes: how the servers are counted and how each request is published.
// Each publish method reports false when the message could not be encoded
// (logged); id "" publishes a server-side emit that wants no answer.
type wire interface {
	servers(ctx context.Context) (int, error)
	publishFetch(id string, opts socketio.BroadcastOptions) bool
	publishEmit(id string, args []json.RawMessage) bool
	publishAckBroadcast(id string, p *socketio.Packet, opts socketio.BroadcastOptions) bool
	// encodeMembership gives the channel and message of a join, leave or
	// disconnect (rooms for join and leave, close for disconnect).
	encodeMembership(op membership, opts socketio.BroadcastOptions, rooms []string, close bool) (string, []byte, error)
}

// membership is a join, leave or disconnect of target sockets.
type membership int

const (
	membershipJoin membership = iota
	membershipLeave
	membershipDisconnect
)

var (
	classicMembership = [...]redisproto.RequestType{redisproto.TypeRemoteJoin, redisproto.TypeRemoteLeave, redisproto.TypeRemoteDisconnect}
	clusterMembership = [...]redisproto.ClusterType{redisproto.ClusterSocketsJoin, redisproto.ClusterSocketsLeave, redisproto.ClusterDisconnectSockets}
)

// classicWire is the classic mode: NUMSUB of the request channel, requests
// of redisproto.Request.
type classicWire struct{ a *Adapter }

func (w classicWire) servers(ctx context.Context) (int, error) {
	return w.a.peer.NumSub(ctx, w.a.ch.Request)
}

func (w classicWire) publishFetch(id string, opts socketio.BroadcastOptions) bool {
	return w.a.publishEncoded(&redisproto.Request{UID: w.a.peer.uid, RequestID: id, Type: redisproto.TypeRemoteFetch, HasOpts: true,
		Opts: socketio.BroadcastOptions{Rooms: nonNil(opts.Rooms), Except: nonNil(opts.Except)}})
}

func (w classicWire) publishEmit(id string, args []json.RawMessage) bool {
	return w.a.publishEncoded(&redisproto.Request{UID: w.a.peer.uid, RequestID: id, Type: redisproto.TypeServerSideEmit, Data: args})
}

func (w classicWire) publishAckBroadcast(id string, p *socketio.Packet, opts socketio.BroadcastOptions) bool {
	return w.a.publishEncoded(&redisproto.Request{UID: w.a.peer.uid, RequestID: id, Type: redisproto.TypeBroadcast, Packet: p, HasOpts: true,
		Opts: socketio.BroadcastOptions{Rooms: nonNil(opts.Rooms), Except: nonNil(opts.Except), Flags: opts.Flags}})
}

func (w classicWire) encodeMembership(op membership, opts socketio.BroadcastOptions, rooms []string, close bool) (string, []byte, error) {
	r := &redisproto.Request{UID: w.a.peer.uid, Type: classicMembership[op], HasOpts: true, Opts: opts, Close: close}
	if op != membershipDisconnect {
		r.Rooms = rooms
	}
	msg, err := redisproto.EncodeRequest(r)
	return w.a.ch.Request, msg, err
}

// shardedWire is the sharded mode: SHARDNUMSUB of the main channel,
// ClusterAdapter messages.
type shardedWire struct{ a *ShardedAdapter }

func (w shardedWire) servers(ctx context.Context) (int, error) {
	return w.a.peer.ShardNumSub(ctx, w.a.sch.Main)
}

func (w shardedWire) publishFetch(id string, opts socketio.BroadcastOptions) bool {
	return w.a.publish(&redisproto.ClusterMessage{Type: redisproto.ClusterFetchSockets, RequestID: id,
		Opts: wireOpts(socketio.BroadcastOptions{Rooms: opts.Rooms, Except: opts.Except})}, false)
}

func (w shardedWire) publishEmit(id string, args []json.RawMessage) bool {
	return w.a.publish(&redisproto.ClusterMessage{Type: redisproto.ClusterServerSideEmit, RequestID: id, Args: args}, false)
}

func (w shardedWire) publishAckBroadcast(id string, p *socketio.Packet, opts socketio.BroadcastOptions) bool {
	return w.a.publish(&redisproto.ClusterMessage{Type: redisproto.ClusterBroadcast, RequestID: id, Packet: p, Opts: wireOpts(opts)}, false)
}

func (w shardedWire) encodeMembership(op membership, opts socketio.BroadcastOptions, rooms []string, close bool) (string, []byte, error) {
	m := &redisproto.ClusterMessage{Type: clusterMembership[op], UID: w.a.peer.uid, NSP: w.a.name, Opts: opts, Close: close}
	if op != membershipDisconnect {
		m.Rooms = rooms
	}
	msg, err := redisproto.EncodeCluster(m)
	return w.a.sch.Main, msg, err
}
