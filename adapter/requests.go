package adapter

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/stickyd/stickyd/hub"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/socketio"
)

// timeoutErr is the error of a request whose deadline passed.
func timeoutErr(what string, got, asked int) error {
	return fmt.Errorf("%w: %s: %d of %d workers answered", socketio.ErrTimeout, what, got, asked)
}

// FetchSockets describes the target sockets of every worker. It returns
// when every asked worker answered or left, or when ctx is done (default
// bound: Options.RequestTimeout), then with what arrived and an error
// wrapping socketio.ErrTimeout.
func (a *Adapter) FetchSockets(ctx context.Context, opts socketio.BroadcastOptions) ([]socketio.SocketInfo, error) {
	local, _ := a.InMemoryAdapter.FetchSockets(ctx, opts)
	if opts.Flags.Local {
		return local, nil
	}
	var infos []socketio.SocketInfo
	err := a.gather(ctx, "fetchSockets", opts.Rooms, hub.AppendList([]byte{hub.RequestFetch}, opts.Except), func(from uint32, payload []byte) error {
		var got []socketio.SocketInfo
		if len(payload) == 0 {
			return nil
		}
		if err := json.Unmarshal(payload, &got); err != nil {
			return fmt.Errorf("%w: sockets: %w", ErrMalformed, err)
		}
		infos = append(infos, got...)
		return nil
	})
	return append(local, infos...), err
}

// ServerSideEmit sends args to the namespace's server-side handlers on
// every other worker. With wantAck it returns the first ack argument of
// each worker once all answered, or what arrived and an error wrapping
// socketio.ErrTimeout when ctx is done (default bound:
// Options.RequestTimeout); a worker that leaves meanwhile is not waited for.
func (a *Adapter) ServerSideEmit(ctx context.Context, args []json.RawMessage, wantAck bool) ([]json.RawMessage, error) {
	if !wantAck {
		a.relay(socketio.BroadcastOptions{}, hub.AppendList([]byte{hub.PayloadEmit}, args), nil)
		return nil, nil
	}
	var out []json.RawMessage
	err := a.gather(ctx, "serverSideEmit", nil, hub.AppendList([]byte{hub.RequestEmit}, args), func(from uint32, payload []byte) error {
		if len(payload) > 0 {
			out = append(out, json.RawMessage(payload))
		}
		return nil
	})
	return out, err
}

// ClusterRooms lists every room of the namespace that has a member on any
// live worker (socket id rooms included), sorted, or what arrived and an
// error wrapping socketio.ErrTimeout when ctx is done.
func (a *Adapter) ClusterRooms(ctx context.Context) ([]string, error) {
	return a.gatherStrings(ctx, "rooms", nil, []byte{hub.RequestRooms}, a.InMemoryAdapter.Rooms())
}

// ClusterSockets lists the ids of the sockets in any of rooms (every socket
// of the namespace when rooms is empty) on every live worker, sorted.
func (a *Adapter) ClusterSockets(ctx context.Context, rooms []string) ([]string, error) {
	return a.gatherStrings(ctx, "sockets", rooms, hub.AppendList([]byte{hub.RequestSockets}, []string(nil)), a.InMemoryAdapter.Sockets(rooms))
}

// gatherStrings is gather for a request that every worker answers with a
// list of strings: it returns local and all the lists that arrived, sorted
// and without repeats (and gather's error, if any).
func (a *Adapter) gatherStrings(ctx context.Context, what string, rooms []string, payload []byte, local []string) ([]string, error) {
	all := local
	err := a.gather(ctx, what, rooms, payload, func(_ uint32, payload []byte) error {
		r := hub.NewPayloadReader(payload)
		got := r.Strs()
		if err := r.End(); err != nil {
			return err
		}
		all = append(all, got...)
		return nil
	})
	slices.Sort(all)
	return slices.Compact(all), err
}

// gather runs a request whose every asked worker sends one final response,
// handing each payload to add (under a lock, so add may append freely).
func (a *Adapter) gather(ctx context.Context, what string, rooms []string, payload []byte, add func(from uint32, payload []byte) error) error {
	ctx, cancel := a.c.withTimeout(ctx)
	defer cancel()
	var mu sync.Mutex
	asked, answered := 0, 0
	r := &hub.Request{
		Nsp:      a.name,
		Rooms:    rooms,
		Payload:  payload,
		OnRouted: func(t []uint32) { mu.Lock(); asked = len(t); mu.Unlock() },
		OnResponse: func(from uint32, p []byte, final bool) {
			mu.Lock()
			defer mu.Unlock()
			answered++
			if err := add(from, p); err != nil {
				a.c.log.Error("bad answer from another worker dropped", "nsp", a.name, "request", what, "from", from, "error", err)
			}
		},
	}
	a.c.link.Start(r)
	if a.c.link.Wait(ctx, r) {
		return nil
	}
	mu.Lock()
	defer mu.Unlock()
	// Later responses are dropped (the request is cancelled); add must
	// not run after we return.
	add = func(uint32, []byte) error { return nil }
	return timeoutErr(what, answered, asked)
}

// BroadcastWithAck sends p to the target sockets on every worker and
// returns the number of workers it went to (this one included); it waits
// for the hub's routing answer (one round trip), not for the acks. onAck
// is called for each ack as it arrives; onClientCount once per worker, when
// its acks are complete, or when it leaves (or cannot answer), with the
// number of acks it relayed, so the set never hangs on a dead worker. The
// acks are relayed until every socket answered or opts.Flags.Timeout
// (default Options.RequestTimeout) passes.
func (a *Adapter) BroadcastWithAck(p *socketio.Packet, opts socketio.BroadcastOptions, onClientCount func(int), onAck func([]json.RawMessage)) int {
	servers := a.InMemoryAdapter.BroadcastWithAck(p, opts, onClientCount, onAck)
	if opts.Flags.Local {
		return servers
	}
	b := []byte{hub.RequestAckPacket, hub.EncodeFlags(opts.Flags)}
	b = hub.AppendList(b, opts.Except)
	b = hub.AppendPacket(b, p)
	// Callbacks run on the reader goroutine, one at a time. Each worker's
	// count is reported once, when all its acks arrived or it can send no
	// more (final response, or it left): then with the acks it relayed.
	// socketio's EmitWithAck counts every onClientCount call as one
	// worker's report, so a later correction (-k) would count twice.
	counts := map[uint32]int{} // announced count, per worker
	acks := map[uint32]int{}
	reported := map[uint32]bool{}
	report := func(from uint32, n int) {
		if !reported[from] {
			reported[from] = true
			onClientCount(n)
		}
	}
	routed := make(chan int, 1)
	timeout := opts.Flags.Timeout
	if timeout <= 0 {
		timeout = a.c.opts.RequestTimeout
	}
	r := &hub.Request{
		Nsp:      a.name,
		Rooms:    opts.Rooms,
		Payload:  b,
		Expire:   timeout, // then acks are no longer relayed
		OnRouted: func(t []uint32) { routed <- len(t) },
		OnResponse: func(from uint32, payload []byte, final bool) {
			if len(payload) > 0 {
				rd := hub.NewPayloadReader(payload)
				switch kind := rd.U8(); kind {
				case hub.AnswerAckCount:
					n := int(rd.U32())
					if rd.End() == nil {
						counts[from] = n
					}
				case hub.AnswerAckArgs:
					args := rd.Raws()
					if rd.End() == nil && !reported[from] {
						acks[from]++
						onAck(args)
					}
				default:
					rd.Fail(fmt.Sprintf("unknown ack kind %d", kind))
				}
				if rd.Err() != nil {
					a.c.log.Error("bad broadcast ack from another worker dropped", "nsp", a.name, "from", from, "error", rd.Err())
				}
			}
			if n, ok := counts[from]; ok && acks[from] >= n {
				report(from, n)
			} else if final {
				report(from, acks[from])
			}
		},
		OnGone: func(from uint32) { report(from, acks[from]) },
	}
	a.c.link.Start(r)
	return servers + <-routed
}

// onRequest answers a request from another worker.
func (a *Adapter) onRequest(m *ipc.HubMessage) {
	from, id := m.Instance, m.ReqID
	r := hub.NewPayloadReader(m.Payload)
	opts := socketio.BroadcastOptions{Rooms: m.Rooms, Flags: socketio.BroadcastFlags{Local: true}}
	switch kind := r.U8(); kind {
	case hub.RequestFetch:
		opts.Except = r.Strs()
		if r.End() != nil {
			break
		}
		infos, _ := a.InMemoryAdapter.FetchSockets(context.Background(), opts)
		var b []byte
		if len(infos) > 0 {
			var err error
			if b, err = json.Marshal(infos); err != nil {
				a.c.log.Error("fetchSockets answer not encodable", "nsp", a.name, "error", err)
				b = nil
			}
		}
		a.c.link.Respond(from, id, true, b)
		return
	case hub.RequestEmit:
		args := r.Raws()
		if r.End() != nil {
			break
		}
		var once sync.Once
		a.nsp.DispatchServerSideEmit(args, func(ack []json.RawMessage) {
			once.Do(func() {
				first := json.RawMessage("null")
				if len(ack) > 0 {
					first = ack[0]
				}
				a.c.link.Respond(from, id, true, first)
			})
		})
		return
	case hub.RequestAckPacket:
		opts.Flags = hub.DecodeFlags(r.U8())
		opts.Flags.Local = true
		opts.Except = r.Strs()
		p := r.Packet()
		if r.End() != nil {
			break
		}
		a.answerAcks(from, id, p, opts)
		return
	case hub.RequestRooms:
		if r.End() != nil {
			break
		}
		a.c.link.Respond(from, id, true, hub.AppendList(nil, a.InMemoryAdapter.Rooms()))
		return
	case hub.RequestSockets:
		opts.Except = r.Strs()
		if r.End() != nil {
			break
		}
		a.c.link.Respond(from, id, true, hub.AppendList(nil, a.InMemoryAdapter.Sockets(opts.Rooms)))
		return
	case hub.RequestRestore:
		pid, offset := r.Str(), r.Str()
		if r.End() != nil {
			break
		}
		a.c.link.Respond(from, id, true, a.answerRestore(pid, offset))
		return
	default:
		r.Fail(fmt.Sprintf("unknown request %d", kind))
	}
	a.c.log.Error("bad request from another worker answered empty", "nsp", a.name, "from", from, "error", r.Err())
	a.c.link.Respond(from, id, true, nil)
}

// answerAcks broadcasts p locally with acks and relays the count, then each
// ack, to the requester; the last message is final.
func (a *Adapter) answerAcks(from uint32, id uint64, p *socketio.Packet, opts socketio.BroadcastOptions) {
	var mu sync.Mutex
	count, acked := -1, 0
	a.InMemoryAdapter.BroadcastWithAck(p, opts, func(n int) {
		mu.Lock()
		defer mu.Unlock()
		count = n
		a.c.link.Respond(from, id, acked >= n, binaryCount(n))
	}, func(args []json.RawMessage) {
		mu.Lock()
		defer mu.Unlock()
		acked++
		a.c.link.Respond(from, id, count >= 0 && acked >= count, hub.AppendList([]byte{hub.AnswerAckArgs}, args))
	})
}

func binaryCount(n int) []byte {
	b := []byte{hub.AnswerAckCount, 0, 0, 0, 0}
	b[1], b[2], b[3], b[4] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	return b
}
