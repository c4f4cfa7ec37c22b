package hub

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
)

// TestHubMetrics relays each kind of frame through a Server with metrics
// and checks the frame and byte counters by type and direction, and that a
// request a worker had not answered when it left is counted.
func TestHubMetrics(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	reg := prometheus.NewPedanticRegistry()
	h := NewServer(Options{Metrics: NewMetrics(reg)})
	defer h.Close()
	peers := startHubPeers(t, h, 3) // members out: 1 + 2 + 3
	for _, p := range peers {
		p.join(t, h, "/", fmt.Sprint("r", p.id))
	}
	b := bcast("/", "hello", "r2")
	peers[0].send(t, b)
	if got := peers[1].nextBroadcast(t); string(got.Payload) != "hello" {
		t.Fatalf("broadcast payload %q", got.Payload)
	}
	peers[0].send(t, ipc.HubMessage{Type: ipc.HubRequest, ReqID: 7, Nsp: "/", Payload: []byte("q")})
	if got := peers[0].next(t); got.Type != ipc.HubRouted || !slices.Equal(got.Instances, []uint32{2, 3}) {
		t.Fatalf("requester got %+v, want routed to [2 3]", got)
	}
	for _, p := range peers[1:] {
		if got := p.next(t); got.Type != ipc.HubRequest {
			t.Fatalf("peer %d got %+v, want the request", p.id, got)
		}
	}
	// Peer 2 answers (a partial then a final response), peer 3 leaves.
	peers[1].send(t, ipc.HubMessage{Type: ipc.HubResponse, Instance: 1, ReqID: 7, Payload: []byte("a")})
	peers[1].send(t, ipc.HubMessage{Type: ipc.HubResponse, Instance: 1, ReqID: 7, Flags: ipc.HubFinal, Payload: []byte("b")})
	for range 2 {
		if got := peers[0].next(t); got.Type != ipc.HubResponse || got.Instance != 2 {
			t.Fatalf("requester got %+v, want a response of 2", got)
		}
	}
	peers[2].fc.Close()
	peers[0].waitMembers(t, 1, 2) // members out: + 2

	bl, err := b.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The hub counts the last members frame and the dead worker's debt
	// after peer 1 may have seen its frame: poll.
	testutil.CheckFor(t, hubWait, 5*time.Millisecond, func() error {
		fams := testutil.Gather(t, reg)
		for _, tt := range []struct {
			typ, dir string
			want     float64
		}{
			{"members", "out", 8},
			{"rooms", "in", 3},
			{"broadcast", "in", 1},
			{"broadcast", "out", 1},
			{"request", "in", 1},
			{"request", "out", 2},
			{"routed", "out", 1},
			{"response", "in", 2},
			{"response", "out", 2},
			{"sync", "in", 0},
		} {
			if got := testutil.Metric(fams, "stickyd_hub_frames_total", "type", tt.typ, "dir", tt.dir); got != tt.want {
				return fmt.Errorf("%s frames %s: %v, want %v", tt.typ, tt.dir, got, tt.want)
			}
		}
		if got, want := testutil.Metric(fams, "stickyd_hub_bytes_total", "type", "broadcast", "dir", "in"), float64(len(bl)); got != want {
			return fmt.Errorf("broadcast bytes in: %v, want %v", got, want)
		}
		if got := testutil.Metric(fams, "stickyd_hub_requests_resolved_by_dead_worker_total"); got != 1 {
			return fmt.Errorf("requests resolved by a dead worker: %v, want 1", got)
		}
		if got := testutil.Metric(fams, "stickyd_hub_stall_timeouts_total"); got != 0 {
			return fmt.Errorf("stall timeouts: %v, want 0", got)
		}
		return nil
	})
}

// BenchmarkHubRelayMetrics is BenchmarkHubRelay (64-byte broadcasts from
// one worker through the hub to another) without and with metrics.
func BenchmarkHubRelayMetrics(b *testing.B) {
	for _, tt := range []struct {
		name string
		m    *Metrics
	}{{"off", nil}, {"on", NewMetrics(prometheus.NewRegistry())}} {
		b.Run(tt.name, func(b *testing.B) { benchHubRelay(b, Options{Metrics: tt.m}) })
	}
}

func benchHubRelay(b *testing.B, opts Options) {
	h := NewServer(opts)
	defer h.Close()
	src := startHubPeer(b, h, 1, false)
	dst := startHubPeer(b, h, 2, false)
	for _, p := range []*hubPeer{src, dst} {
		for { // each sees both members
			typ, pl, err := p.fc.ReadFrame()
			if err != nil {
				b.Fatal(err)
			}
			if m, _ := ipc.DecodeHubMessage(typ, pl); len(m.Instances) == 2 {
				break
			}
		}
	}
	dst.send(b, ipc.HubMessage{Type: ipc.HubRooms, Nsp: "/", Deltas: []ipc.RoomDelta{{Op: ipc.RoomAdd, Room: "room"}}})
	testutil.CheckFor(b, hubWait, time.Millisecond, func() error {
		if h.RoomInstances("/", "room") == nil {
			return errors.New("room not indexed")
		}
		return nil
	})
	frame := mustEncode(b, bcast("/", string(bytes.Repeat([]byte("x"), 64)), "room"))
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	start := time.Now()
	go func() {
		for i := 0; i < b.N; i++ {
			if src.fc.WriteFrame(byte(ipc.HubBroadcast), frame) != nil {
				return
			}
		}
	}()
	for i := 0; i < b.N; i++ {
		if _, _, err := dst.fc.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// TestMetricsHooks drives every hook once and checks the gathered values;
// on a nil *Metrics every hook is a no-op.
func TestMetricsHooks(t *testing.T) {
	var none *Metrics
	none.frame(byte(ipc.HubBroadcast), 10, dirIn)
	none.orphanedRequests(3)
	none.linkCut()
	none.volatileDropped()
	none.stalled(time.Second)

	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	m.frame(byte(ipc.HubBroadcast), 100, dirIn)
	m.frame(byte(ipc.HubBroadcast), 100, dirOut)
	m.frame(byte(ipc.HubBroadcast), 100, dirOut)
	m.frame(200, 7, dirIn) // unknown type
	m.orphanedRequests(2)
	m.orphanedRequests(0)
	m.linkCut()
	m.volatileDropped()
	m.stalled(250 * time.Millisecond)
	fams := testutil.Gather(t, reg)
	for _, tt := range []struct {
		want   float64
		name   string
		labels []string
	}{
		{1, "stickyd_hub_frames_total", []string{"type", "broadcast", "dir", "in"}},
		{2, "stickyd_hub_frames_total", []string{"type", "broadcast", "dir", "out"}},
		{200, "stickyd_hub_bytes_total", []string{"type", "broadcast", "dir", "out"}},
		{0, "stickyd_hub_frames_total", []string{"type", "request", "dir", "in"}},
		{1, "stickyd_hub_frames_total", []string{"type", "unknown", "dir", "in"}},
		{7, "stickyd_hub_bytes_total", []string{"type", "unknown", "dir", "in"}},
		{2, "stickyd_hub_requests_resolved_by_dead_worker_total", nil},
		{1, "stickyd_hub_stall_timeouts_total", nil},
		{1, "stickyd_hub_volatile_dropped_total", nil},
		{0.25, "stickyd_hub_stall_seconds_total", nil},
	} {
		if got := testutil.Metric(fams, tt.name, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("a second NewMetrics on one registry did not panic")
		}
	}()
	NewMetrics(reg)
}
