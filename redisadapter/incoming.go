package redisadapter

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/stickyd/stickyd/redisproto"
	"github.com/stickyd/stickyd/socketio"
)

// onBroadcast applies a broadcast of another server to the local sockets.
// A room channel is skipped unread when no local socket is in the room.
func (a *Adapter) onBroadcast(channel string, msg []byte) {
	room, ok := a.ch.RoomOf(channel)
	if !ok {
		a.peer.DropBad(a.name, channel, fmt.Errorf("%w: not a broadcast channel of %q", redisproto.ErrMalformed, a.name))
		return
	}
	if room != "" && len(a.InMemoryAdapter.Sockets([]string{room})) == 0 {
		return
	}
	b, err := redisproto.DecodeBroadcast(msg, a.name)
	if err != nil {
		a.peer.DropBad(a.name, channel, err)
		return
	}
	if b.UID == a.peer.uid {
		return // our own, delivered locally already
	}
	a.InMemoryAdapter.Broadcast(b.Packet, localOpts(b.Opts))
}

// localOpts are opts applied to this server only.
func localOpts(o socketio.BroadcastOptions) socketio.BroadcastOptions {
	o.Flags.Local = true
	o.Flags.Timeout = 0
	return o
}

// onRequest serves a request of another server. Every type that expects
// an answer gets one, so that Node's NUMSUB arithmetic holds (its issue
// #506); answers go to the requester's own response channel.
func (a *Adapter) onRequest(msg []byte) {
	r, err := redisproto.DecodeRequest(msg, a.name)
	if err != nil {
		a.peer.DropBad(a.name, a.ch.Request, err)
		return
	}
	if r.UID == a.peer.uid {
		return // our own request: applied locally when sent
	}
	switch r.Type {
	case redisproto.TypeSockets:
		if r.RequestID != "" {
			a.respond(r, redisproto.EncodeSocketsResponse(r.RequestID, nonNil(a.InMemoryAdapter.Sockets(r.Rooms))))
		}
	case redisproto.TypeAllRooms:
		a.respond(r, redisproto.EncodeAllRoomsResponse(r.RequestID, nonNil(a.InMemoryAdapter.Rooms())))
	case redisproto.TypeRemoteJoin, redisproto.TypeRemoteLeave, redisproto.TypeRemoteDisconnect:
		a.onMembershipRequest(r)
	case redisproto.TypeRemoteFetch:
		infos, _ := a.InMemoryAdapter.FetchSockets(context.Background(), localOpts(r.Opts))
		out, err := redisproto.EncodeFetchResponse(r.RequestID, infos)
		if err != nil {
			a.peer.log.Warn("fetch answer not encodable", "nsp", a.name, "error", err)
			out, _ = redisproto.EncodeFetchResponse(r.RequestID, nil)
		}
		a.respond(r, out)
	case redisproto.TypeServerSideEmit:
		a.onServerSideEmit(r)
	case redisproto.TypeBroadcast:
		a.onBroadcastWithAck(r)
	}
}

func (a *Adapter) onMembershipRequest(r *redisproto.Request) {
	if r.HasOpts {
		opts := localOpts(r.Opts)
		switch r.Type {
		case redisproto.TypeRemoteJoin:
			a.InMemoryAdapter.AddSockets(opts, r.Rooms)
		case redisproto.TypeRemoteLeave:
			a.InMemoryAdapter.DelSockets(opts, r.Rooms)
		default:
			a.InMemoryAdapter.DisconnectSockets(opts, r.Close)
		}
		return
	}
	s := a.nsp.Socket(r.SID) // the legacy single-socket form
	if s == nil {
		return
	}
	switch r.Type {
	case redisproto.TypeRemoteJoin:
		s.Join(r.Room)
	case redisproto.TypeRemoteLeave:
		s.Leave(r.Room)
	default:
		s.Disconnect(r.Close)
	}
	if r.RequestID != "" {
		a.respond(r, redisproto.EncodeDoneResponse(r.RequestID))
	}
}

func (a *Adapter) onServerSideEmit(r *redisproto.Request) {
	a.dispatchServerSideEmit(r.Data, r.RequestID != "", func(arg json.RawMessage) {
		out, err := redisproto.EncodeServerSideEmitResponse(r.RequestID, arg)
		if err != nil {
			out, _ = redisproto.EncodeServerSideEmitResponse(r.RequestID, nil)
		}
		a.respond(r, out)
	})
}

// dispatchServerSideEmit hands args to the namespace's server-side
// handlers; with wantAck, answer gets the first ack's first argument
// (one answer per server, as Node).
func (a *Adapter) dispatchServerSideEmit(args []json.RawMessage, wantAck bool, answer func(json.RawMessage)) {
	if !wantAck {
		a.nsp.DispatchServerSideEmit(args, nil)
		return
	}
	var once sync.Once
	a.nsp.DispatchServerSideEmit(args, func(ackArgs []json.RawMessage) {
		once.Do(func() { answer(firstArg(ackArgs)) })
	})
}

func (a *Adapter) onBroadcastWithAck(r *redisproto.Request) {
	opts := localOpts(socketio.BroadcastOptions{Rooms: r.Opts.Rooms, Except: r.Opts.Except,
		Flags: socketio.BroadcastFlags{Volatile: r.Opts.Flags.Volatile, Compress: r.Opts.Flags.Compress}})
	a.InMemoryAdapter.BroadcastWithAck(r.Packet, opts, func(n int) {
		a.respond(r, redisproto.EncodeClientCountResponse(r.RequestID, n))
	}, func(args []json.RawMessage) {
		out, err := redisproto.EncodeBroadcastAckResponse(r.RequestID, firstArg(args))
		if err != nil {
			out, _ = redisproto.EncodeBroadcastAckResponse(r.RequestID, nil)
		}
		a.respond(r, out)
	})
}

// respond publishes an answer on the requester's own response channel
// (the common one when the request has no uid).
func (a *Adapter) respond(r *redisproto.Request, msg []byte) {
	channel := a.ch.Response
	if r.UID != "" {
		channel = a.ch.SpecificResponse(r.UID)
	}
	a.peer.Publish(channel, msg, false)
}

// firstArg is an ack's first argument, nil (undefined) without arguments.
func firstArg(args []json.RawMessage) json.RawMessage {
	if len(args) == 0 {
		return nil
	}
	return args[0]
}
