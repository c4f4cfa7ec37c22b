package hub

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/redisadapter"
	"github.com/stickyd/stickyd/redisproto"
	"github.com/stickyd/stickyd/socketio"
)

// bridgeNsp is the bridge's redisadapter.Handler of one namespace: what
// other hosts publish becomes the bridge's own broadcasts and requests on
// the hub, routed to the workers with members only.
type bridgeNsp struct {
	b    *RedisBridge
	name string
	ch   redisproto.Channels
}

var _ redisadapter.Handler = (*bridgeNsp)(nil)

// HandleBroadcast relays a broadcast of another server to the workers
// with members: a room's channel is dropped unread when no worker holds
// the room; otherwise it is decoded once for the host.
func (n *bridgeNsp) HandleBroadcast(channel string, msg []byte) {
	room, ok := n.ch.RoomOf(channel)
	if !ok {
		n.b.peer.DropBad(n.name, channel, fmt.Errorf("%w: not a broadcast channel of %q", redisproto.ErrMalformed, n.name))
		return
	}
	if room != "" && !n.b.h.roomHeld(n.name, room) {
		return
	}
	bc, err := redisproto.DecodeBroadcast(msg, n.name)
	if err != nil {
		n.b.peer.DropBad(n.name, channel, err)
		return
	}
	if bc.UID == n.b.peer.UID() {
		return // ours: the hub delivered it locally
	}
	m := ipc.HubMessage{Type: ipc.HubBroadcast, Nsp: n.name, Rooms: bc.Opts.Rooms,
		Payload: packetPayload(bc.Packet, bc.Opts.Except, bc.Opts.Flags)}
	if bc.Opts.Flags.Volatile {
		m.Flags |= ipc.HubVolatile
	}
	n.send(&m, bc.Opts.Flags.Volatile)
}

func (n *bridgeNsp) send(m *ipc.HubMessage, volatile bool) {
	if link := n.b.currentLink(); link != nil {
		link.Send(m, volatile)
	}
}

// HandleResponse hands an answer to the worker request it is for.
func (n *bridgeNsp) HandleResponse(msg []byte) {
	resp, err := redisproto.DecodeResponse(msg)
	if err != nil {
		n.b.peer.DropBad(n.name, n.ch.Response, err)
		return
	}
	n.b.answer(resp)
}

// PeerClosed does nothing: the bridge is closed before its Peer.
func (n *bridgeNsp) PeerClosed() {}

// HandleRequest serves a request of another server. Every request that
// wants answers gets one per live worker of this host (the host is that
// many servers in NUMSUB), each to the requester's own channel.
func (n *bridgeNsp) HandleRequest(msg []byte) {
	r, err := redisproto.DecodeRequest(msg, n.name)
	if err != nil {
		n.b.peer.DropBad(n.name, n.ch.Request, err)
		return
	}
	if r.UID == n.b.peer.UID() {
		return // ours: applied on this host already
	}
	switch r.Type {
	case redisproto.TypeSockets:
		if r.RequestID != "" {
			n.gather(r, r.Rooms, AppendList([]byte{RequestSockets}, []string(nil)), func(p []byte) []byte {
				ids := NewPayloadReader(p).Strs()
				return redisproto.EncodeSocketsResponse(r.RequestID, nonNilStrings(ids))
			})
		}
	case redisproto.TypeAllRooms:
		n.gather(r, nil, []byte{RequestRooms}, func(p []byte) []byte {
			rooms := NewPayloadReader(p).Strs()
			return redisproto.EncodeAllRoomsResponse(r.RequestID, nonNilStrings(rooms))
		})
	case redisproto.TypeRemoteJoin, redisproto.TypeRemoteLeave, redisproto.TypeRemoteDisconnect:
		n.membership(r)
	case redisproto.TypeRemoteFetch:
		n.gather(r, r.Opts.Rooms, AppendList([]byte{RequestFetch}, r.Opts.Except), func(p []byte) []byte {
			var infos []socketio.SocketInfo
			if len(p) > 0 {
				_ = json.Unmarshal(p, &infos)
			}
			out, err := redisproto.EncodeFetchResponse(r.RequestID, infos)
			if err != nil {
				out, _ = redisproto.EncodeFetchResponse(r.RequestID, nil)
			}
			return out
		})
	case redisproto.TypeServerSideEmit:
		if r.RequestID == "" {
			n.send(&ipc.HubMessage{Type: ipc.HubBroadcast, Nsp: n.name, Payload: AppendList([]byte{PayloadEmit}, r.Data)}, false)
			return
		}
		n.gather(r, nil, AppendList([]byte{RequestEmit}, r.Data), func(p []byte) []byte {
			var arg json.RawMessage
			if len(p) > 0 {
				arg = p
			}
			out, err := redisproto.EncodeServerSideEmitResponse(r.RequestID, arg)
			if err != nil {
				out, _ = redisproto.EncodeServerSideEmitResponse(r.RequestID, nil)
			}
			return out
		})
	case redisproto.TypeBroadcast:
		n.broadcastWithAck(r)
	}
}

// membership applies a join, leave or disconnect on the workers with
// target sockets (a join indexes them in the rooms at once).
func (n *bridgeNsp) membership(r *redisproto.Request) {
	m := ipc.HubMessage{Type: ipc.HubBroadcast, Nsp: n.name, Rooms: r.Opts.Rooms}
	except, rooms := r.Opts.Except, r.Rooms
	if !r.HasOpts { // the legacy single-socket form: the socket's own room
		m.Rooms, except, rooms = []string{r.SID}, nil, []string{r.Room}
	}
	switch r.Type {
	case redisproto.TypeRemoteJoin:
		if rooms == nil {
			rooms = []string{}
		}
		m.Payload = AppendList(AppendList([]byte{PayloadJoin}, except), rooms)
		m.Flags, m.JoinRooms = ipc.HubJoin, rooms
	case redisproto.TypeRemoteLeave:
		m.Payload = AppendList(AppendList([]byte{PayloadLeave}, except), rooms)
	default:
		var closeConn byte
		if r.Close {
			closeConn = 1
		}
		m.Payload = append(AppendList([]byte{PayloadDisconnect}, except), closeConn)
	}
	n.send(&m, false)
	if !r.HasOpts && r.RequestID != "" {
		n.publishAnswer(r, redisproto.EncodeDoneResponse(r.RequestID))
	}
}

// gather asks the workers (those with members of rooms; all without) and
// publishes one answer per live worker: encode of each worker's final
// response, encode(nil) for the workers not asked or gone.
func (n *bridgeNsp) gather(r *redisproto.Request, rooms []string, body []byte, encode func(p []byte) []byte) {
	n.fanOut(r, rooms, body, n.b.timeout, func(int) { n.publishAnswer(r, encode(nil)) },
		func(_ uint32, p []byte, final bool) {
			if final {
				n.publishAnswer(r, encode(p))
			}
		}, func(uint32) { n.publishAnswer(r, encode(nil)) })
}

// broadcastWithAck sends a type-7 broadcast to the workers with members
// and publishes, per live worker, its client count (0 for the workers
// without members) and then each ack.
func (n *bridgeNsp) broadcastWithAck(r *redisproto.Request) {
	flags := r.Opts.Flags
	body := []byte{RequestAckPacket, EncodeFlags(flags)}
	body = AppendList(body, r.Opts.Except)
	e := r.Packet.Encoded()
	body = AppendList(AppendString(body, e.Text), e.Attachments)
	timeout := n.b.timeout
	if flags.Timeout > 0 {
		timeout = flags.Timeout
	}
	var mu sync.Mutex
	counted := map[uint32]bool{}
	count := func(c int) { n.publishAnswer(r, redisproto.EncodeClientCountResponse(r.RequestID, c)) }
	n.fanOut(r, r.Opts.Rooms, body, timeout, func(int) { count(0) },
		func(from uint32, p []byte, _ bool) {
			rd := NewPayloadReader(p)
			if len(p) == 0 {
				return
			}
			switch rd.U8() {
			case AnswerAckCount:
				c := int(rd.U32())
				mu.Lock()
				first := !counted[from]
				counted[from] = true
				mu.Unlock()
				if first && rd.End() == nil {
					count(c)
				}
			case AnswerAckArgs:
				args := rd.Raws()
				if rd.End() != nil {
					return
				}
				var arg json.RawMessage
				if len(args) > 0 {
					arg = args[0]
				}
				out, err := redisproto.EncodeBroadcastAckResponse(r.RequestID, arg)
				if err != nil {
					out, _ = redisproto.EncodeBroadcastAckResponse(r.RequestID, nil)
				}
				n.publishAnswer(r, out)
			}
		}, func(from uint32) {
			mu.Lock()
			first := !counted[from]
			counted[from] = true
			mu.Unlock()
			if first {
				count(0)
			}
		})
}

// fanOut starts a hub request of the bridge to the workers. notAsked runs
// once per live worker the hub did not ask; onResponse and onGone as
// hub.Request's. The request is forgotten after expire.
func (n *bridgeNsp) fanOut(r *redisproto.Request, rooms []string, body []byte, expire time.Duration,
	notAsked func(int), onResponse func(uint32, []byte, bool), onGone func(uint32)) {
	link := n.b.currentLink()
	if link == nil || r.RequestID == "" {
		return
	}
	link.Start(&Request{
		Nsp: n.name, Rooms: rooms, Payload: body, Expire: expire,
		OnRouted: func(targets []uint32) {
			for i := len(targets); i < n.b.h.servingWorkers(); i++ {
				notAsked(i)
			}
		},
		OnResponse: onResponse,
		OnGone:     onGone,
	})
}

// publishAnswer publishes an answer on the requester's own channel (the
// common one for a request without uid).
func (n *bridgeNsp) publishAnswer(r *redisproto.Request, msg []byte) {
	channel := n.ch.Response
	if r.UID != "" {
		channel = n.ch.SpecificResponse(r.UID)
	}
	n.b.peer.Publish(channel, msg, false)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
