package adapter

import (
	"context"
	"testing"

	"github.com/stickyd/stickyd/socketio"
)

// BenchmarkClusterBroadcast measures a broadcast from one worker's adapter
// through a real hub to another worker's adapter, which decodes it and
// applies it to its (empty) local room: the per-message cost of the
// cluster path, without client sockets. A server-side emit with ack after
// the last broadcast is the barrier (it is handled after every broadcast
// before it).
func BenchmarkClusterBroadcast(b *testing.B) {
	tc := newTestCluster(b, 2, func(w *testWorker) {
		w.io.OnServerSideEmit("barrier", func(ack socketio.AckFunc) { ack(1) })
	})
	w1, w2 := tc.workers[0], tc.workers[1]
	w2.cluster.adapterOf(b, "/").AddAll("phantom", []string{"room"})
	tc.waitRoom(b, "room", 2)
	p, err := socketio.NewEventPacket("/", "ev", "0123456789012345678901234567890123456789012345")
	if err != nil {
		b.Fatal(err)
	}
	a := w1.cluster.adapterOf(b, "/")
	opts := socketio.BroadcastOptions{Rooms: []string{"room"}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.Broadcast(p, opts)
	}
	if got, err := w1.io.ServerSideEmitWithAck(context.Background(), "barrier"); err != nil || len(got) != 1 {
		b.Fatalf("barrier: %v, %v", got, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
