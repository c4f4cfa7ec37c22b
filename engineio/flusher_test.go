package engineio

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

var errNotYet = errors.New("not yet")

// TestFlusherStuckSocketHoldsUpNoOther: with one flusher shard, a
// deferred send to a client that reads nothing fills its socket, and a
// deferred send to another client queued behind it in the same shard is
// still written at once; the stuck client then gets its frame whole. A
// flusher that waited for a full socket would hold the second client for
// the write timeout (an hour here).
func TestFlusherStuckSocketHoldsUpNoOther(t *testing.T) {
	p := newPushServer(t, Options{PingInterval: time.Hour, MaxBufferedBytes: 64 << 20}, false)
	p.srv.flush = newFlusher(1)
	stuck, stuckSo := p.dial(t)
	other, otherSo := p.dial(t)
	big := strings.Repeat("s", 16<<20) // far more than the socket buffers
	if _, err := stuckSo.Send([]*Frame{NewTextFrame([]byte(big))}, SendDeferred); err != nil {
		t.Fatal(err)
	}
	// The stuck socket is full before the other's send is queued.
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if !testutil.GoroutineIn("engineio.(*wsTransport).run", "engineio.(*wsBatch).writeAll") {
			return errNotYet
		}
		return nil
	})
	if _, err := otherSo.Send([]*Frame{NewTextFrame([]byte("hello"))}, SendDeferred); err != nil {
		t.Fatal(err)
	}
	if got, want := other.mustRead(), "4hello"; got != want {
		t.Fatalf("other client got %q, want %q", got, want)
	}
	if got := stuck.mustRead(); got != "4"+big {
		t.Fatalf("stuck client got %d bytes, want %d", len(got), 1+len(big))
	}
}

// TestFlusherGoroutinesEnd: a shard's goroutine writes a broadcast's
// deferred sends to many sessions and ends once its queue is empty.
func TestFlusherGoroutinesEnd(t *testing.T) {
	p := newPushServer(t, Options{PingInterval: time.Hour}, false)
	p.srv.flush = newFlusher(2)
	const n = 20
	clients := make([]*wsClient, n)
	socks := make([]*Socket, n)
	for i := range clients {
		clients[i], socks[i] = p.dial(t)
	}
	for round := range 3 {
		f := NewTextFrame([]byte("b" + string(rune('0'+round))))
		for _, so := range socks {
			if _, err := so.Send([]*Frame{f}, SendDeferred); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range clients {
			if got, want := c.mustRead(), "4b"+string(rune('0'+round)); got != want {
				t.Fatalf("round %d client %d: got %q, want %q", round, i, got, want)
			}
		}
	}
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if testutil.GoroutineIn("engineio.(*flushShard).run") {
			return errNotYet
		}
		return nil
	})
}
