package adapter

import (
	"context"
	"fmt"
	"testing"
	"time"

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

// BenchmarkRestoreAcrossWorkers measures one session restored by another
// worker through a real hub: worker 1 persists a session (two rooms, 10
// missed packets of ~60 bytes), worker 2's RestoreSession asks the cluster
// and decodes the answer. The persist and its hub barrier are outside the
// timer.
func BenchmarkRestoreAcrossWorkers(b *testing.B) {
	sopts := socketio.Options{ConnectionStateRecovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: time.Minute}}
	tc := newTestClusterWith(b, 2, sopts, Options{RequestTimeout: 2 * time.Second}, nil)
	w1, w2 := tc.workers[0], tc.workers[1]
	a1, a2 := w1.cluster.adapterOf(b, "/"), w2.cluster.adapterOf(b, "/")
	p, err := socketio.NewEventPacket("/", "ev", "0123456789012345678901234567890123456789012345")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		pid, offset := fmt.Sprint("pid-", i), "offset of another worker"
		a1.InMemoryAdapter.AdoptOffset(pid, offset) // the client's last offset
		s := &socketio.Session{SID: fmt.Sprint("sid-", i), PID: pid, Rooms: []string{fmt.Sprint("sid-", i), "r"}}
		a1.KeepSession(s)
		a1.PersistSession(s)
		for range 10 {
			a1.InMemoryAdapter.Broadcast(p, socketio.BroadcastOptions{Rooms: []string{"r"}, Flags: socketio.BroadcastFlags{Local: true}})
		}
		w1.synced()
		b.StartTimer()
		got, err := a2.RestoreSession(pid, offset)
		if err != nil || got == nil || len(got.MissedPackets) != 10 {
			b.Fatalf("restore %d: %v, %v", i, got, err)
		}
	}
}
