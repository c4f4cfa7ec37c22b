package redisadapter

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/redisproto"
)

func sharded(mode redisproto.SubscriptionMode) func(*Options) {
	return func(o *Options) { o.Mode, o.SubscriptionMode = ModeSharded, mode }
}

// Two Go peers in sharded mode on one Redis 7: every operation from each
// side, exactly once.
func TestShardedTwoGoPeers(t *testing.T) {
	testutil.CheckNoLeaks(t)
	r := startRedis(t)
	a := startGoPeer(t, r.URL, "go-a", sharded(""))
	b := startGoPeer(t, r.URL, "go-b", sharded(""))
	finishFleet(t, runFleetOps(t, []string{a.addr, b.addr}, false))
}

// Go peers and a Node server with createShardedAdapter on one Redis 7, in
// each subscription mode: room/except/binary broadcasts, fetchSockets,
// serverSideEmit with ack, serverCount, socketsJoin/Leave, disconnect,
// from each side, exactly once.
func TestShardedGoAndNode(t *testing.T) {
	for _, mode := range []redisproto.SubscriptionMode{redisproto.SubscriptionDynamic, redisproto.SubscriptionDynamicPrivate, redisproto.SubscriptionStatic} {
		t.Run(string(mode), func(t *testing.T) {
			r := startRedis(t)
			a := startGoPeer(t, r.URL, "go-a", sharded(mode))
			n := startNodePeer(t, r.URL, "REDIS_SHARDED=1", "REDIS_SUBSCRIPTION_MODE="+string(mode))
			b := startGoPeer(t, r.URL, "go-b", sharded(mode))
			finishFleet(t, runFleetOps(t, []string{a.addr, n.addr, b.addr}, false))
		})
	}
}

// TestShardedRoomChannels: in dynamic mode a public room's channel is
// subscribed while the room has a local member and a socket-id room has
// none; SHARDNUMSUB shows it.
func TestShardedRoomChannels(t *testing.T) {
	testutil.CheckNoLeaks(t)
	r := startRedis(t)
	a := startGoPeer(t, r.URL, "go-a", sharded(""))
	c := dialClient(t, a.addr, "c0")
	ch := redisproto.NewShardedChannels("", "/")
	subscribers := func(channel string) int {
		ctx, cancel := ctx5()
		defer cancel()
		if err := a.peer.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		n, err := a.peer.ShardNumSub(ctx, channel)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	c.call(t, "join", "lobby")
	if n := subscribers(ch.Room("lobby")); n != 1 {
		t.Fatalf("room channel has %d subscribers after join, want 1", n)
	}
	if n := subscribers(ch.Room(c.id())); n != 0 {
		t.Fatalf("socket-id room channel has %d subscribers in dynamic mode, want 0", n)
	}
	if n := subscribers(ch.Private(a.peer.UID())); n != 1 || len(a.peer.UID()) != 16 {
		t.Fatalf("private channel of %q: %d subscribers", a.peer.UID(), n)
	}
	c.close()
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := subscribers(ch.Room("lobby")); n != 0 {
			return fmt.Errorf("room channel has %d subscribers after its last socket left", n)
		}
		return nil
	})
}

// TestShardedClassicOnly: in sharded mode the classic Handler API is
// refused (ErrBadMode) and SetRequestWeight does nothing.
func TestShardedClassicOnly(t *testing.T) {
	r := startRedis(t)
	p, err := New(Options{URL: r.URL, Mode: ModeSharded})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Subscribe("/", shardedHandler{}); !errors.Is(err, ErrBadMode) {
		t.Fatalf("Subscribe in sharded mode: %v, want ErrBadMode", err)
	}
	p.SetRequestWeight(3)
	if w := p.RequestWeight(); w != 1 {
		t.Fatalf("request weight %d in sharded mode, want 1", w)
	}
}

// TestShardedBadOptions: an unknown mode is refused by New.
func TestShardedBadOptions(t *testing.T) {
	for _, o := range []Options{{URL: "redis://127.0.0.1:1", Mode: "cluster"}, {URL: "redis://127.0.0.1:1", Mode: ModeSharded, SubscriptionMode: "lazy"}} {
		if _, err := New(o); !errors.Is(err, ErrBadMode) {
			t.Errorf("%+v: %v, want ErrBadMode", o, err)
		}
	}
}
