package socketio

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// pairAdapter links the namespaces of two in-process Servers the way a
// cluster adapter links workers: it embeds the in-memory adapter to apply
// operations locally and relays each cluster-wide operation to its peer,
// where the peer's in-memory adapter applies it. Packets and socket infos
// cross in their serialised forms (EncodedPacket, JSON), as over a hub.
type pairAdapter struct {
	*InMemoryAdapter
	mu   sync.Mutex
	peer *pairAdapter
}

type pairLink struct {
	mu    sync.Mutex
	byNsp map[string][]*pairAdapter
}

func (l *pairLink) factory(nsp *Namespace) Adapter {
	a := &pairAdapter{InMemoryAdapter: NewInMemoryAdapter(nsp)}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.byNsp[nsp.Name()] {
		o.mu.Lock()
		o.peer = a
		o.mu.Unlock()
		a.peer = o
	}
	l.byNsp[nsp.Name()] = append(l.byNsp[nsp.Name()], a)
	return a
}

func (a *pairAdapter) remote(opts BroadcastOptions) *pairAdapter {
	if opts.Flags.Local {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.peer
}

func ship(p *Packet) *Packet {
	b, _ := json.Marshal(p.Encoded())
	var e EncodedPacket
	_ = json.Unmarshal(b, &e)
	q, err := PacketFromEncoded(e)
	if err != nil {
		panic(err)
	}
	return q
}

func (a *pairAdapter) Broadcast(p *Packet, opts BroadcastOptions) {
	a.InMemoryAdapter.Broadcast(p, opts)
	if r := a.remote(opts); r != nil {
		r.InMemoryAdapter.Broadcast(ship(p), opts)
	}
}

func (a *pairAdapter) BroadcastWithAck(p *Packet, opts BroadcastOptions, onCount func(int), onAck func([]json.RawMessage)) int {
	n := a.InMemoryAdapter.BroadcastWithAck(p, opts, onCount, onAck)
	if r := a.remote(opts); r != nil {
		n += r.InMemoryAdapter.BroadcastWithAck(ship(p), opts, onCount, onAck)
	}
	return n
}

func (a *pairAdapter) AddSockets(opts BroadcastOptions, rooms []string) {
	a.InMemoryAdapter.AddSockets(opts, rooms)
	if r := a.remote(opts); r != nil {
		r.InMemoryAdapter.AddSockets(opts, rooms)
	}
}

func (a *pairAdapter) DisconnectSockets(opts BroadcastOptions, close bool) {
	a.InMemoryAdapter.DisconnectSockets(opts, close)
	if r := a.remote(opts); r != nil {
		r.InMemoryAdapter.DisconnectSockets(opts, close)
	}
}

func (a *pairAdapter) FetchSockets(ctx context.Context, opts BroadcastOptions) ([]SocketInfo, error) {
	out, _ := a.InMemoryAdapter.FetchSockets(ctx, opts)
	if r := a.remote(opts); r != nil {
		infos, _ := r.InMemoryAdapter.FetchSockets(ctx, opts)
		b, _ := json.Marshal(infos)
		var remote []SocketInfo
		_ = json.Unmarshal(b, &remote)
		out = append(out, remote...)
	}
	return out, nil
}

func (a *pairAdapter) ServerSideEmit(ctx context.Context, args []json.RawMessage, wantAck bool) ([]json.RawMessage, error) {
	r := a.remote(BroadcastOptions{})
	if r == nil {
		return nil, nil
	}
	if !wantAck {
		r.Namespace().DispatchServerSideEmit(args, nil)
		return nil, nil
	}
	ch := make(chan json.RawMessage, 1)
	r.Namespace().DispatchServerSideEmit(args, func(a []json.RawMessage) {
		first := json.RawMessage("null")
		if len(a) > 0 {
			first = a[0]
		}
		select {
		case ch <- first:
		default:
		}
	})
	select {
	case v := <-ch:
		return []json.RawMessage{v}, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
}

func (a *pairAdapter) ServerCount(context.Context) (int, error) { return 2, nil }

func TestAdapterContractAcrossTwoServers(t *testing.T) {
	link := &pairLink{byNsp: map[string][]*pairAdapter{}}
	env1 := newEnv(t, Options{Adapter: link.factory})
	env2 := newEnv(t, Options{Adapter: link.factory})
	for i, env := range []*testEnv{env1, env2} {
		env.io.OnConnection(func(s *Socket) {
			s.Join("all-room")
			s.SetData(map[string]int{"server": i + 1})
		})
	}
	c1 := env1.dial("")
	id1 := c1.connect("/", "")
	c2 := env2.dial("")
	id2 := c2.connect("/", "")
	// Connection handlers run after the CONNECT answer (as in Node): wait
	// until both joined.
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		rs, _ := env1.io.In("all-room").FetchSockets(context.Background())
		if len(rs) != 2 {
			return fmt.Errorf("%d sockets in all-room", len(rs))
		}
		return nil
	})

	// Broadcast from server 1 reaches the socket on server 2, same bytes.
	if err := env1.io.To("all-room").Emit("hi", json.RawMessage(`{"z":1,"a":[true]}`)); err != nil {
		t.Fatal(err)
	}
	c1.expect(`2["hi",{"z":1,"a":[true]}]`)
	c2.expect(`2["hi",{"z":1,"a":[true]}]`)
	// Local stays local.
	_ = env1.io.Local().Emit("local")
	_ = env1.io.Emit("marker")
	c1.expect(`2["local"]`)
	c1.expect(`2["marker"]`)
	c2.expect(`2["marker"]`)

	// FetchSockets sees both; the remote one has no local Socket.
	rs, err := env1.io.FetchSockets(context.Background())
	if err != nil || len(rs) != 2 {
		t.Fatalf("fetch: %v %v", rs, err)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Local() != nil && rs[j].Local() == nil })
	if rs[0].ID != id1 || rs[1].ID != id2 || rs[1].Local() != nil || string(rs[1].Data) != `{"server":2}` ||
		!slices.Contains(rs[1].Rooms, "all-room") || rs[1].Handshake.Query.Get("EIO") != "4" {
		t.Fatalf("infos: %+v / %+v", rs[0].SocketInfo, rs[1].SocketInfo)
	}
	// A remote socket is driven through the adapter.
	rs[1].Join("joined-remotely")
	_ = env1.io.To("joined-remotely").Emit("j")
	c2.expect(`2["j"]`)

	// Broadcast with acks: one count per server, one ack per client.
	type res struct {
		got []json.RawMessage
		err error
	}
	ch := make(chan res, 1)
	go func() {
		got, err := env1.io.Timeout(5*time.Second).EmitWithAck(context.Background(), "q")
		ch <- res{got, err}
	}()
	for i, c := range []*tclient{c1, c2} {
		var id int
		if _, err := fmt.Sscanf(c.expectPrefix("2"), `2%d["q"]`, &id); err != nil {
			t.Fatal(err)
		}
		c.send(fmt.Sprintf(`3%d[%d]`, id, i+1))
	}
	r := <-ch
	if r.err != nil || len(r.got) != 2 {
		t.Fatalf("acks %s %v", r.got, r.err)
	}

	// Server-side emit with ack reaches the other server's handler only.
	_ = env2.io.OnServerSideEmit("ping-all", func(from string, ack AckFunc) { _ = ack("pong from 2 to " + from) })
	_ = env1.io.OnServerSideEmit("ping-all", func(from string, ack AckFunc) { _ = ack("server 1 must not get it") })
	got, err := env1.io.ServerSideEmitWithAck(context.Background(), "ping-all", "1")
	if err != nil || len(got) != 1 || string(got[0]) != `"pong from 2 to 1"` {
		t.Fatalf("server-side emit: %s %v", got, err)
	}
	if n, _ := env1.io.ServerCount(context.Background()); n != 2 {
		t.Fatalf("server count %d", n)
	}

	// DisconnectSockets reaches the remote socket.
	env1.io.In(id2).DisconnectSockets(false)
	c2.expect(`1`)
}
