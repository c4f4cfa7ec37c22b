package hub

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stickyd/stickyd/internal/redistest"
	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/redisadapter"
	"github.com/stickyd/stickyd/redisproto"
	"github.com/stickyd/stickyd/socketio"
)

// bridgeFixture is a hub with a RedisBridge on a real redis-server, three
// workers (1 in room "a", 2 in room "b", 3 in neither) and a raw
// subscriber that sees every broadcast published on Redis.
type bridgeFixture struct {
	h       *Server
	peer    *redisadapter.Peer
	bridge  *RedisBridge
	workers []*hubPeer
	rc      *redis.Client
	watch   *redis.PubSub
	ch      redisproto.Channels
}

func startBridgeFixture(t *testing.T) *bridgeFixture {
	r := redistest.Start(t)
	f := &bridgeFixture{h: newTestHub(t), ch: redisproto.NewChannels(redisproto.DefaultPrefix, "/")}
	var err error
	f.peer, err = redisadapter.New(redisadapter.Options{URL: r.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.peer.Close() })
	f.bridge, err = NewRedisBridge(f.h, f.peer, BridgeOptions{RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.bridge.Close() })
	f.rc = redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { f.rc.Close() })
	f.watch = f.rc.PSubscribe(context.Background(), f.ch.Pattern)
	t.Cleanup(func() { f.watch.Close() })
	if _, err := f.watch.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := uint32(1); i <= 3; i++ {
		f.workers = append(f.workers, startHubPeer(t, f.h, i, true))
	}
	for _, w := range f.workers {
		w.waitMembers(t, 1, 2, 3, BridgeInstance)
	}
	f.workers[0].join(t, f.h, "/", "a")
	f.workers[1].join(t, f.h, "/", "b")
	f.workers[2].join(t, f.h, "/")
	// a host of 3 workers is 3 servers: the bridge's subscription and 2 passive ones
	testutil.CheckFor(t, hubWait, 10*time.Millisecond, func() error {
		n, err := f.rc.PubSubNumSub(context.Background(), f.ch.Request).Result()
		if err != nil || n[f.ch.Request] != 3 {
			return fmt.Errorf("NUMSUB %v (%v), want 3", n, err)
		}
		return nil
	})
	return f
}

func eventPacket(t *testing.T, args ...any) *socketio.Packet {
	t.Helper()
	p, err := socketio.NewEventPacket("/", "ev", args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A worker's broadcast to a room is published once on the room's channel,
// in Node's format, and reaches the local worker with the room through
// the hub.
func TestRedisBridgePublishesOnce(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	f := startBridgeFixture(t)
	pkt := eventPacket(t, "hi", []byte{1, 2, 3})
	f.workers[2].send(t, ipc.HubMessage{Type: ipc.HubBroadcast, Nsp: "/", Rooms: []string{"a"},
		Payload: packetPayload(pkt, nil, socketio.BroadcastFlags{})})
	if m := f.workers[0].nextBroadcast(t); m.Instance != 3 {
		t.Fatalf("worker 1 got a broadcast of %d, want 3", m.Instance)
	}
	msg, err := f.watch.ReceiveMessage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if msg.Channel != f.ch.Room("a") {
		t.Fatalf("published on %q, want %q", msg.Channel, f.ch.Room("a"))
	}
	b, err := redisproto.DecodeBroadcast([]byte(msg.Payload), "/")
	if err != nil || b.UID != f.peer.UID() || !slices.Equal(b.Opts.Rooms, []string{"a"}) {
		t.Fatalf("published %+v, %v", b, err)
	}
	if got := b.Packet.Encoded(); len(got.Attachments) != 1 || string(got.Attachments[0]) != "\x01\x02\x03" {
		t.Fatalf("binary not intact: %+v", got)
	}
	// exactly one message: the next one seen is the next broadcast's
	f.workers[2].send(t, ipc.HubMessage{Type: ipc.HubBroadcast, Nsp: "/",
		Payload: packetPayload(eventPacket(t, "second"), nil, socketio.BroadcastFlags{})})
	if msg, err := f.watch.ReceiveMessage(context.Background()); err != nil || msg.Channel != f.ch.Broadcast {
		t.Fatalf("next message on %q (%v), want the second broadcast on %q", msg.Channel, err, f.ch.Broadcast)
	}
}

// A broadcast from another server reaches only the workers with members of
// its rooms; one for a room no worker holds, its own echo, and garbage
// reach nobody (garbage is counted).
func TestRedisBridgeDeliversToMembersOnly(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	f := startBridgeFixture(t)
	ctx := context.Background()
	publish := func(uid string, rooms ...string) {
		msg, err := redisproto.EncodeBroadcast(uid, eventPacket(t, uid), socketio.BroadcastOptions{Rooms: rooms})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.rc.Publish(ctx, f.ch.BroadcastChannel(rooms), msg).Err(); err != nil {
			t.Fatal(err)
		}
	}
	publish("other", "zzz")    // no worker holds zzz: dropped unread
	publish(f.peer.UID(), "b") // our own echo: dropped
	f.rc.Publish(ctx, f.ch.Room("b"), "garbage")
	publish("other", "b")
	m := f.workers[1].nextBroadcast(t)
	if m.Instance != BridgeInstance || !slices.Equal(m.Rooms, []string{"b"}) {
		t.Fatalf("worker 2 got %+v, want the bridge's broadcast to b", m)
	}
	p := NewPayloadReader(m.Payload)
	if kind := p.U8(); kind != PayloadPacket {
		t.Fatalf("payload kind %d", kind)
	}
	p.Flags()
	p.Strs()
	if pkt := p.Packet(); p.End() != nil || pkt.Encoded().Text != `2["ev","other"]` {
		t.Fatalf("packet %v: %v", pkt, p.Err())
	}
	// a broadcast to everyone now reaches each worker as its next frame:
	// nothing else was delivered before it
	publish("other")
	for _, w := range f.workers {
		if m := w.nextBroadcast(t); len(m.Rooms) != 0 {
			t.Fatalf("worker %d got %+v before the broadcast to all", w.id, m)
		}
	}
	if n := f.peer.Stats().BadMessages; n != 1 {
		t.Fatalf("%d bad messages counted, want 1", n)
	}
}

// serverCount on a worker is the fleet's: another server on Redis shows
// as one more instance, the bridge not counted.
func TestRedisBridgeServerCount(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	f := startBridgeFixture(t)
	other := f.rc.Subscribe(context.Background(), f.ch.Request)
	defer other.Close()
	if _, err := other.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.workers[0].waitMembers(t, 1, 2, 3, remoteInstanceBase, BridgeInstance)
}

// The host's weight follows its live workers, and a bridge link the hub
// cut is reattached: broadcasts are published again.
func TestRedisBridgeFollowsWorkersAndReattaches(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	f := startBridgeFixture(t)
	numSub := func(want int64) {
		testutil.CheckFor(t, hubWait, 10*time.Millisecond, func() error {
			n, err := f.rc.PubSubNumSub(context.Background(), f.ch.Request).Result()
			if err != nil || n[f.ch.Request] != want {
				return fmt.Errorf("NUMSUB %v (%v), want %d", n, err, want)
			}
			return nil
		})
	}
	f.h.WorkerGone(3)
	f.workers[2].waitEnd(t)
	numSub(2)
	f.h.WorkerGone(BridgeInstance) // as a slow-consumer cut would
	f.workers[0].waitMembers(t, 1, 2)
	f.workers[0].waitMembers(t, 1, 2, BridgeInstance)
	f.workers[1].send(t, ipc.HubMessage{Type: ipc.HubBroadcast, Nsp: "/",
		Payload: packetPayload(eventPacket(t, "after"), nil, socketio.BroadcastFlags{})})
	msg, err := f.watch.ReceiveMessage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if b, err := redisproto.DecodeBroadcast([]byte(msg.Payload), "/"); err != nil || b.Packet.Encoded().Text != `2["ev","after"]` {
		t.Fatalf("published %q after the reattach: %v", msg.Payload, err)
	}
}
