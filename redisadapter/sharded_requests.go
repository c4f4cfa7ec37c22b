package redisadapter

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/stickyd/stickyd/redisproto"
)

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
	a.dispatchServerSideEmit(m.Args, m.RequestID != "", func(arg json.RawMessage) {
		a.respond(m.UID, &redisproto.ClusterMessage{Type: redisproto.ClusterServerSideEmitResp, RequestID: m.RequestID, Ack: arg})
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
