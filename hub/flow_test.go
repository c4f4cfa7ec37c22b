package hub

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
)

// flowWait bounds moving the bursts of these tests through the hub under
// -race on a loaded machine. The stall timeout of their hubs is longer, so
// a hub that stalls a sender until the stall timeout fails them.
const flowWait = 2 * hubWait

// bigFrame is a 64 KiB broadcast to room r of "/" carrying seq at its end.
func bigFrame(t testing.TB, seq int) []byte {
	m := bcast("/", string(bytes.Repeat([]byte("v"), 64<<10)), "r")
	m.Payload = binary.LittleEndian.AppendUint32(m.Payload, uint32(seq))
	return mustEncode(t, m)
}

// seqOf returns the sequence number bigFrame put in m.
func seqOf(m ipc.HubMessage) int {
	if len(m.Payload) < 4 {
		return -1
	}
	return int(binary.LittleEndian.Uint32(m.Payload[len(m.Payload)-4:]))
}

// sendFrames writes n big frames from p on a goroutine (its writes may
// wait for the hub) and returns the channel of the outcome.
func sendFrames(t testing.TB, p *hubPeer, n int) <-chan error {
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if err := p.fc.WriteFrame(byte(ipc.HubBroadcast), bigFrame(t, i)); err != nil {
				done <- fmt.Errorf("peer %d: frame %d: %w", p.id, i, err)
				return
			}
		}
		done <- nil
	}()
	return done
}

// receiveFrames reads n big frames in order from p, all before deadline
// (member sets in between are skipped).
func receiveFrames(t testing.TB, p *hubPeer, n int, deadline time.Time) {
	t.Helper()
	for i := 0; i < n; {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				t.Fatalf("peer %d: link ended after %d of %d frames: %v", p.id, i, n, <-p.readErr)
			}
			if m.Type == ipc.HubMembers {
				continue
			}
			if m.Type != ipc.HubBroadcast || seqOf(m) != i {
				t.Fatalf("peer %d: frame %d is %s seq %d", p.id, i, m.Type, seqOf(m))
			}
			i++
		case <-time.After(time.Until(deadline)):
			t.Fatalf("peer %d: %d of %d frames before the deadline (the sender is stalled)", p.id, i, n)
		}
	}
}

// TestStallIsBoundedPerFrame: a sender whose frames go to several stuck
// destinations is held back at most one stall budget in all, not once per
// destination for the stall timeout: a healthy destination of the same
// frames gets them all well before one stall timeout, and the stuck ones,
// still under the cut threshold, keep their links.
func TestStallIsBoundedPerFrame(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	reg := prometheus.NewPedanticRegistry()
	h := NewServer(Options{StallTimeout: 3 * hubWait, Metrics: NewMetrics(reg)})
	t.Cleanup(func() { h.Close() })
	sender := startHubPeer(t, h, 1, true)
	var stuck []*hubPeer
	for id := uint32(2); id <= 4; id++ {
		stuck = append(stuck, startHubPeer(t, h, id, false))
	}
	healthy := startHubPeer(t, h, 5, true)
	healthy.waitMembers(t, 1, 2, 3, 4, 5)
	for _, p := range stuck {
		p.join(t, h, "/", "r")
	}
	healthy.join(t, h, "/", "r")

	const frames = 200 // 12.5 MiB: congests each stuck peer, under CutThreshold
	sent := sendFrames(t, sender, frames)
	receiveFrames(t, healthy, frames, time.Now().Add(flowWait))
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if ids := h.Instances(); !slices.Equal(ids, []uint32{1, 2, 3, 4, 5}) {
		t.Fatalf("live instances %v, want all 5 (slow is not cut below the threshold)", ids)
	}
	fams := testutil.Gather(t, reg)
	if got := testutil.Metric(fams, "stickyd_hub_stall_seconds_total"); got <= 0 || got > 10*DefaultStallBudget.Seconds() {
		t.Fatalf("stalled %vs in all, want some and at most a few budgets of %v", got, DefaultStallBudget)
	}
	if got := testutil.Metric(fams, "stickyd_hub_stall_timeouts_total"); got != 0 {
		t.Fatalf("%v links cut, want none", got)
	}
}

// TestStallCycleResolves: two workers that each write a burst to the
// other and read only once their own writes are done (a worker's reader
// that waits on its own write) form a wait cycle with the hub. It costs
// one stall budget: both bursts arrive complete and in order, both links
// stay.
func TestStallCycleResolves(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	h := NewServer(Options{StallTimeout: 3 * hubWait})
	t.Cleanup(func() { h.Close() })
	a := startHubPeer(t, h, 1, false)
	b := startHubPeer(t, h, 2, false)
	a.join(t, h, "/", "r")
	b.join(t, h, "/", "r")

	const frames = 300 // 18.75 MiB each way: more than the queues between them hold
	sentA, sentB := sendFrames(t, a, frames), sendFrames(t, b, frames)
	deadline := time.Now().Add(flowWait)
	for _, sent := range []<-chan error{sentA, sentB} {
		select {
		case err := <-sent:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Until(deadline)):
			t.Fatal("the writers are still blocked: the hub and the workers wait for each other")
		}
	}
	for _, p := range []*hubPeer{a, b} {
		p.startReading(t)
		p.waitMembers(t, 1, 2)
		receiveFrames(t, p, frames, deadline)
	}
	if ids := h.Instances(); !slices.Equal(ids, []uint32{1, 2}) {
		t.Fatalf("live instances %v, want [1 2]", ids)
	}
}

// TestSlowConsumerCutAtThreshold: a destination that never reads is cut
// once its queue passes CutThreshold, long before the stall timeout; the
// sender keeps its link and its other destination gets every frame.
func TestSlowConsumerCutAtThreshold(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	reg := prometheus.NewPedanticRegistry()
	h := NewServer(Options{StallTimeout: 3 * hubWait, Metrics: NewMetrics(reg)})
	t.Cleanup(func() { h.Close() })
	sender := startHubPeer(t, h, 1, true)
	stuck := startHubPeer(t, h, 2, false)
	healthy := startHubPeer(t, h, 3, true)
	healthy.waitMembers(t, 1, 2, 3)
	stuck.join(t, h, "/", "r")
	healthy.join(t, h, "/", "r")

	// Past the stuck peer's socket buffers, FrameConn queue and CutThreshold.
	frames := (ipc.FrameQueueLimit+CutThreshold)/(64<<10) + 64
	sent := sendFrames(t, sender, frames)
	receiveFrames(t, healthy, frames, time.Now().Add(flowWait))
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	select {
	case <-stuck.served:
	case <-time.After(hubWait):
		t.Fatal("the stuck peer's link is still served")
	}
	sender.waitMembers(t, 1, 3)
	if got := testutil.Metric(testutil.Gather(t, reg), "stickyd_hub_stall_timeouts_total"); got != 1 {
		t.Fatalf("%v links cut, want 1", got)
	}
}

func TestHubStuckReader(t *testing.T) {
	big := string(bytes.Repeat([]byte("v"), 64<<10))
	const frames = 200 // 12.5 MiB, far more than a FrameConn queues

	t.Run("a stuck reader's link is closed after the stall timeout", func(t *testing.T) {
		testutil.CheckNoLeaks(t, leakWait)
		h := NewServer(Options{StallTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { h.Close() })
		a := startHubPeer(t, h, 1, true)
		b := startHubPeer(t, h, 2, false)
		a.waitMembers(t, 1, 2)
		b.join(t, h, "/", "r")
		for i := 0; i < frames; i++ {
			if err := a.fc.WriteFrame(byte(ipc.HubBroadcast), mustEncode(t, bcast("/", big, "r"))); err != nil {
				t.Fatal(err)
			}
		}
		a.waitMembers(t, 1)
		select {
		case <-b.served:
		case <-time.After(hubWait):
			t.Fatal("the stuck link is still served")
		}
	})

	t.Run("a slow reader loses nothing and keeps its link", func(t *testing.T) {
		testutil.CheckNoLeaks(t, leakWait)
		h := NewServer(Options{StallTimeout: hubWait})
		t.Cleanup(func() { h.Close() })
		a := startHubPeer(t, h, 1, true)
		b := startHubPeer(t, h, 2, false)
		a.waitMembers(t, 1, 2)
		b.join(t, h, "/", "r")
		sent := make(chan error, 1)
		go func() {
			for i := 0; i < frames; i++ {
				m := bcast("/", big, "r")
				m.Payload = binary.LittleEndian.AppendUint32(m.Payload, uint32(i))
				b, _ := m.AppendBinary(nil)
				if err := a.fc.WriteFrame(byte(ipc.HubBroadcast), b); err != nil {
					sent <- err
					return
				}
			}
			sent <- nil
		}()
		// b's queue passes the stall threshold: a is held back, then b is slow.
		testutil.CheckFor(t, hubWait, time.Millisecond, func() error {
			if n := h.overflowBytes(b.id); n <= StallThreshold {
				return fmt.Errorf("overflow of b is %d bytes", n)
			}
			return nil
		})
		b.startReading(t)
		b.waitMembers(t, 1, 2)
		for i := 0; i < frames; i++ {
			m := b.nextBroadcast(t)
			if got := binary.LittleEndian.Uint32(m.Payload[len(big):]); got != uint32(i) {
				t.Fatalf("frame %d carries %d", i, got)
			}
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		if ids := h.Instances(); !slices.Equal(ids, []uint32{1, 2}) {
			t.Fatalf("live instances %v, want [1 2]", ids)
		}
	})

	t.Run("volatile frames are dropped, the link stays", func(t *testing.T) {
		testutil.CheckNoLeaks(t, leakWait)
		reg := prometheus.NewPedanticRegistry()
		h := NewServer(Options{Metrics: NewMetrics(reg)})
		t.Cleanup(func() { h.Close() })
		a := startHubPeer(t, h, 1, true)
		b := startHubPeer(t, h, 2, false)
		a.waitMembers(t, 1, 2)
		b.join(t, h, "/", "r")
		m := bcast("/", big, "r")
		m.Flags = ipc.HubVolatile
		for i := 0; i < frames; i++ {
			if err := a.fc.WriteFrame(byte(ipc.HubBroadcast), mustEncode(t, m)); err != nil {
				t.Fatal(err)
			}
		}
		// A request to nobody is a barrier: once routed, every volatile
		// frame before it was queued or dropped.
		a.send(t, ipc.HubMessage{Type: ipc.HubRequest, ReqID: 1, Nsp: "/", Rooms: []string{"none"}})
		if m := a.next(t); m.Type != ipc.HubRouted || m.ReqID != 1 {
			t.Fatalf("a: got %+v, want routed", m)
		}
		b.startReading(t)
		b.waitMembers(t, 1, 2)
		a.send(t, bcast("/", "marker"))
		got := 0
		for {
			m := b.nextBroadcast(t)
			if string(m.Payload) == "marker" {
				break
			}
			got++
		}
		if got == 0 || got >= frames {
			t.Fatalf("b received %d of %d volatile frames, want some dropped and some delivered", got, frames)
		}
		if dropped := testutil.Metric(testutil.Gather(t, reg), "stickyd_hub_volatile_dropped_total"); int(dropped)+got != frames {
			t.Fatalf("%v volatile frames counted dropped and %d delivered, want %d in all", dropped, got, frames)
		}
		if ids := h.Instances(); !slices.Equal(ids, []uint32{1, 2}) {
			t.Fatalf("live instances %v, want [1 2]", ids)
		}
	})
}

// TestStalledSenderFramesGoOut: a frame that stalls its sender (one of its
// destinations is congested) reaches its other destinations during the
// stall. The hub relays what it reads by queuing it in the destinations'
// sinks and writing them once it has nothing more to read (Server.push);
// a stall is such a wait, however long its budget.
func TestStalledSenderFramesGoOut(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	h := NewServer(Options{StallBudget: 3 * hubWait, StallTimeout: 6 * hubWait})
	t.Cleanup(func() { h.Close() })
	filler := startHubPeer(t, h, 1, true)
	sender := startHubPeer(t, h, 2, true)
	stuck := startHubPeer(t, h, 3, false)
	healthy := startHubPeer(t, h, 4, true)
	healthy.waitMembers(t, 1, 2, 3, 4)
	stuck.join(t, h, "/", "r", "s")
	healthy.join(t, h, "/", "r")

	// Congest stuck: its queue in the hub passes StallThreshold, and the
	// filler stalls for the (long) budget.
	big := mustEncode(t, bcast("/", string(bytes.Repeat([]byte("v"), 64<<10)), "s"))
	go func() {
		for range 200 { // 12.5 MiB, under CutThreshold
			if filler.fc.WriteFrame(byte(ipc.HubBroadcast), big) != nil {
				return
			}
		}
	}()
	testutil.CheckFor(t, hubWait, time.Millisecond, func() error {
		if n := h.overflowBytes(3); n <= StallThreshold {
			return fmt.Errorf("%d bytes queued for the stuck peer", n)
		}
		return nil
	})
	sender.send(t, bcast("/", "to both", "r")) // stalls the sender too
	for {
		m := healthy.next(t)
		if m.Type == ipc.HubMembers {
			continue
		}
		if m.Type != ipc.HubBroadcast || string(m.Payload) != "to both" {
			t.Fatalf("healthy peer got %s %q, want the broadcast", m.Type, m.Payload)
		}
		break
	}
	if n := h.overflowBytes(3); n <= StallThreshold {
		t.Fatalf("the stuck peer's queue drained (%d bytes) before the broadcast arrived: no stall tested", n)
	}
	stuck.startReading(t) // ends the stalls
}
