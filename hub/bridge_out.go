package hub

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/redisproto"
	"github.com/stickyd/stickyd/socketio"
)

// fromWorker handles a worker's broadcast or request (the bridge link's
// Deliver, on its reader goroutine): it publishes it once to Redis.
func (b *RedisBridge) fromWorker(m *ipc.HubMessage) {
	ch := redisproto.NewChannels(b.peer.Prefix(), m.Nsp)
	if m.Type == ipc.HubBroadcast {
		if err := b.publishOperation(m, ch); err != nil {
			b.log.Error("worker broadcast not published", "nsp", m.Nsp, "from", m.Instance, "error", err)
		}
		return
	}
	r, err := b.newFleetRequest(m)
	if err != nil || r == nil {
		if err != nil {
			b.log.Error("worker request not relayed to redis", "nsp", m.Nsp, "from", m.Instance, "error", err)
		}
		b.respond(m.Instance, m.ReqID, true, nil)
		return
	}
	if !b.startGoroutine(func() { b.runFleetRequest(r, ch) }) {
		r.complete()
	}
}

// publishOperation publishes a fire-and-forget operation of a worker: a
// packet on its broadcast channel, the others as requests without answer.
func (b *RedisBridge) publishOperation(m *ipc.HubMessage, ch redisproto.Channels) error {
	p := NewPayloadReader(m.Payload)
	opts := socketio.BroadcastOptions{Rooms: m.Rooms}
	req := redisproto.Request{UID: b.peer.UID(), HasOpts: true}
	switch kind := p.U8(); kind {
	case PayloadPacket:
		opts.Flags = p.Flags()
		opts.Except = p.Strs()
		pkt := p.Packet()
		if err := p.End(); err != nil {
			return err
		}
		msg, err := redisproto.EncodeBroadcast(b.peer.UID(), pkt, opts)
		if err != nil {
			return err
		}
		b.peer.Publish(ch.BroadcastChannel(opts.Rooms), msg, opts.Flags.Volatile)
		return nil
	case PayloadJoin, PayloadLeave:
		req.Type = redisproto.TypeRemoteJoin
		if kind == PayloadLeave {
			req.Type = redisproto.TypeRemoteLeave
		}
		opts.Except = p.Strs()
		req.Rooms = p.Strs()
		if req.Rooms == nil {
			req.Rooms = []string{}
		}
	case PayloadDisconnect:
		req.Type = redisproto.TypeRemoteDisconnect
		opts.Except = p.Strs()
		req.Close = p.U8() == 1
	case PayloadEmit:
		req.Type, req.HasOpts = redisproto.TypeServerSideEmit, false
		req.Data = p.Raws()
	default:
		p.Fail(fmt.Sprintf("unknown operation %d", kind))
	}
	if err := p.End(); err != nil {
		return err
	}
	req.Opts = opts
	msg, err := redisproto.EncodeRequest(&req)
	if err != nil {
		return err
	}
	b.peer.Publish(ch.Request, msg, false)
	return nil
}

// fleetRequest is a worker's request relayed to the other servers of the
// fleet: their answers are relayed to the worker as non-final responses
// of the bridge, and a final one once all arrived. It is freed when
// complete, at its timeout and on Close.
type fleetRequest struct {
	b    *RedisBridge
	to   uint32 // the requesting worker
	id   uint64 // its request id
	nsp  string
	kind byte
	req  redisproto.Request

	mu       sync.Mutex
	wireID   string
	expected int // answers (client counts for an ack packet) wanted
	answers  int
	total    int // sockets reached, summed over the client counts
	acks     int
	ended    bool
	timer    *time.Timer
}

// newFleetRequest decodes a worker's request; nil, nil for one that does
// not go to other hosts (answered empty at once).
func (b *RedisBridge) newFleetRequest(m *ipc.HubMessage) (*fleetRequest, error) {
	p := NewPayloadReader(m.Payload)
	r := &fleetRequest{b: b, to: m.Instance, id: m.ReqID, nsp: m.Nsp}
	r.kind = p.U8()
	opts := socketio.BroadcastOptions{Rooms: m.Rooms}
	r.req = redisproto.Request{UID: b.peer.UID(), HasOpts: true}
	switch r.kind {
	case RequestFetch:
		r.req.Type = redisproto.TypeRemoteFetch
		opts.Except = p.Strs()
	case RequestEmit:
		r.req.Type, r.req.HasOpts = redisproto.TypeServerSideEmit, false
		r.req.Data = p.Raws()
	case RequestAckPacket:
		r.req.Type = redisproto.TypeBroadcast
		opts.Flags = p.Flags()
		opts.Except = p.Strs()
		r.req.Packet = p.Packet()
	case RequestRooms:
		r.req.Type, r.req.HasOpts = redisproto.TypeAllRooms, false
	case RequestSockets:
		r.req.Type, r.req.HasOpts = redisproto.TypeSockets, false
		p.Strs() // except: not part of the legacy request
		r.req.Rooms = m.Rooms
		if r.req.Rooms == nil {
			r.req.Rooms = []string{}
		}
	case RequestRestore:
		return nil, nil // sessions are restored within a host only
	default:
		p.Fail(fmt.Sprintf("unknown request %d", r.kind))
	}
	if err := p.End(); err != nil {
		return nil, err
	}
	r.req.Opts = opts
	return r, nil
}

// runFleetRequest asks Redis how many servers there are, registers r and
// publishes it. Redis down: the worker gets no final answer from the
// bridge and ends the request at its deadline, with what the other
// workers answered and an error wrapping socketio.ErrTimeout.
func (b *RedisBridge) runFleetRequest(r *fleetRequest, ch redisproto.Channels) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	n, err := b.peer.NumSub(ctx, ch.Request)
	if err != nil {
		b.log.Debug("fleet request not sent", "nsp", r.nsp, "error", err)
		return
	}
	r.expected = n - b.peer.RequestWeight()
	if r.expected <= 0 { // no other server
		r.complete()
		return
	}
	r.mu.Lock() // before b.mu, as endLocked
	b.mu.Lock()
	if !b.running {
		b.mu.Unlock()
		r.mu.Unlock()
		return
	}
	b.nextID++
	r.wireID = fmt.Sprintf("%s-%d", b.peer.UID(), b.nextID)
	r.req.RequestID = r.wireID
	b.pending[r.wireID] = r
	r.timer = time.AfterFunc(b.timeout, r.expire)
	b.mu.Unlock()
	r.mu.Unlock()
	msg, err := redisproto.EncodeRequest(&r.req)
	if err != nil {
		b.log.Error("fleet request not encodable", "nsp", r.nsp, "error", err)
		r.end()
		return
	}
	b.peer.Publish(ch.Request, msg, false)
}

// answer hands a response from Redis to its pending request.
func (b *RedisBridge) answer(resp *redisproto.Response) {
	b.mu.Lock()
	r := b.pending[resp.RequestID]
	b.mu.Unlock()
	if r != nil {
		r.onAnswer(resp)
	}
}

// onAnswer relays one server's answer to the worker.
func (r *fleetRequest) onAnswer(resp *redisproto.Response) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return
	}
	var out []byte
	switch r.kind {
	case RequestFetch:
		infos, err := resp.FetchedSockets()
		if err == nil && len(infos) > 0 {
			out, err = json.Marshal(infos)
		}
		if err != nil {
			r.b.log.Warn("bad fetch answer from redis dropped", "error", err)
		}
	case RequestEmit:
		out = resp.Data
		if out == nil {
			out = json.RawMessage("null")
		}
	case RequestRooms:
		out = AppendList(nil, resp.Rooms)
	case RequestSockets:
		ids, _ := resp.SocketIDs()
		out = AppendList(nil, ids)
	case RequestAckPacket:
		r.onAck(resp)
		return
	}
	if len(out) > 0 {
		r.b.respond(r.to, r.id, false, out)
	}
	r.answers++
	if r.answers >= r.expected {
		r.endLocked()
		r.b.respond(r.to, r.id, true, r.emptyAnswer())
	}
}

// emptyAnswer is the payload of a final response that carries nothing:
// requests answered with lists need an empty list.
func (r *fleetRequest) emptyAnswer() []byte {
	switch r.kind {
	case RequestRooms, RequestSockets:
		return AppendList(nil, []string(nil))
	case RequestAckPacket:
		return ackCountPayload(0)
	}
	return nil
}

// onAck relays a client count (the sum is sent once every server's count
// arrived) or an ack; called with r.mu held.
func (r *fleetRequest) onAck(resp *redisproto.Response) {
	counted := r.answers >= r.expected
	switch resp.Type {
	case redisproto.TypeBroadcastClientCount:
		if counted {
			return
		}
		r.answers++
		r.total += resp.ClientCount
		if r.answers >= r.expected {
			final := r.acks >= r.total
			if final {
				r.endLocked()
			}
			r.b.respond(r.to, r.id, final, ackCountPayload(r.total))
		}
	case redisproto.TypeBroadcastAck:
		r.acks++
		var args []json.RawMessage
		if resp.Packet != nil {
			args = []json.RawMessage{resp.Packet}
		}
		final := counted && r.acks >= r.total
		if final {
			r.endLocked()
		}
		r.b.respond(r.to, r.id, final, AppendList([]byte{AnswerAckArgs}, args))
	}
}

// complete answers the worker that no other server exists.
func (r *fleetRequest) complete() {
	r.b.respond(r.to, r.id, true, r.emptyAnswer())
}

// expire ends r at its timeout. A broadcast with acks gets a final answer
// (the worker then counts the acks relayed); other requests get none, so
// the worker returns what arrived with its own timeout error.
func (r *fleetRequest) expire() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return
	}
	r.endLocked()
	if r.kind == RequestAckPacket {
		r.b.respond(r.to, r.id, true, nil)
	}
}

// end frees r (Close, encoding failure).
func (r *fleetRequest) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endLocked()
}

func (r *fleetRequest) endLocked() {
	if r.ended {
		return
	}
	r.ended = true
	if r.timer != nil {
		r.timer.Stop()
	}
	r.b.mu.Lock()
	if r.b.pending[r.wireID] == r {
		delete(r.b.pending, r.wireID)
	}
	r.b.mu.Unlock()
}

func ackCountPayload(n int) []byte {
	return binary.LittleEndian.AppendUint32([]byte{AnswerAckCount}, uint32(n))
}

// respond sends a response of the bridge to worker to's request id.
func (b *RedisBridge) respond(to uint32, id uint64, final bool, p []byte) {
	if link := b.currentLink(); link != nil {
		link.Respond(to, id, final, p)
	}
}
