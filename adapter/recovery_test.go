package adapter

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stickyd/stickyd/hub"
	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/socketio"
)

// recoveryCluster starts n workers with connection state recovery on.
func recoveryCluster(t *testing.T, n int, maxAge, requestTimeout time.Duration) *testCluster {
	sopts := socketio.Options{ConnectionStateRecovery: &socketio.RecoveryOptions{MaxDisconnectionDuration: maxAge}}
	tc := newTestClusterWith(t, n, sopts, Options{RequestTimeout: requestTimeout}, nil)
	for _, w := range tc.workers {
		w.synced() // the hub knows the namespace of every worker
	}
	return tc
}

// recoverAuth is the CONNECT auth of a client that recovers session pid.
func recoverAuth(pid, offset string) string {
	b, _ := json.Marshal(map[string]string{"pid": pid, "offset": offset})
	return string(b)
}

func dialAuth(t *testing.T, w *testWorker, name, auth string) *client {
	t.Helper()
	c, err := connect(t, w, name, nil, auth)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// memberWithOffset connects client "c" to holder, joins it to room "r"
// and has emitter send "r" one event: the client, and the offset of that
// event, which a recovering client sends back.
func memberWithOffset(t *testing.T, holder, emitter *testWorker) (*client, string) {
	t.Helper()
	c := dialAuth(t, holder, "c", "")
	holder.socket(t, c.sid).Join("r")
	if err := emitter.io.To("r").Emit("ev", "before"); err != nil {
		t.Fatal(err)
	}
	_, offset := payload(t, c.next(t))
	return c, offset
}

// drop closes c's transport without a close handshake and waits until
// holder has persisted the session (it routes the session's pid room).
func (tc *testCluster) drop(t *testing.T, c *client, holder *testWorker) {
	t.Helper()
	c.Close()
	tc.waitRoom(t, pidRoom(c.pid), holder.id)
}

// synced returns once the hub has routed every frame w sent so far.
func (w *testWorker) synced() { w.cluster.link.AwaitSync(w.cluster.link.StartSync()) }

// payload returns the first argument of e as a string and its offset (the
// last argument, appended by recovery).
func payload(t *testing.T, e event) (string, string) {
	t.Helper()
	var p, off string
	if e.name != "ev" || len(e.args) != 2 || json.Unmarshal(e.args[0], &p) != nil || json.Unmarshal(e.args[1], &off) != nil {
		t.Fatalf("event %s %s, want ev with a payload and an offset", e.name, e.args)
	}
	return p, off
}

// missed collects the payloads c receives before a marker that w, its
// worker, emits to the socket (not a broadcast: it carries no offset and
// is not stored), and the offset of the last one.
func missed(t *testing.T, c *client, w *testWorker) ([]string, string) {
	t.Helper()
	if err := w.socket(t, c.sid).Emit("marker"); err != nil {
		t.Fatal(err)
	}
	var got []string
	last := ""
	for _, e := range c.until(t, "marker") {
		p, off := payload(t, e)
		got = append(got, p)
		last = off
	}
	return got, last
}

func TestRecoveryAcrossWorkers(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	tc := recoveryCluster(t, 3, time.Minute, 2*time.Second)
	w1, w2, w3 := tc.workers[0], tc.workers[1], tc.workers[2]

	c, offset := memberWithOffset(t, w1, w2)
	if c.pid == "" {
		t.Fatal("no pid in the connect answer")
	}

	tc.drop(t, c, w1)
	tc.waitRoom(t, "r", 1) // held by w1 for the session
	for _, tt := range []struct {
		room, payload string
	}{{"r", "missed"}, {c.sid, "direct"}, {"other", "not for c"}} {
		if err := w2.io.To(tt.room).Emit("ev", tt.payload); err != nil {
			t.Fatal(err)
		}
	}
	w2.synced() // w1 has the broadcasts queued before the restore request

	c2 := dialAuth(t, w3, "c2", recoverAuth(c.pid, offset))
	if c2.sid != c.sid || c2.pid != c.pid {
		t.Fatalf("restored sid, pid = %s, %s; want %s, %s", c2.sid, c2.pid, c.sid, c.pid)
	}
	s := w3.socket(t, c.sid)
	if !s.Recovered() || !slices.Contains(s.Rooms(), "r") {
		t.Fatalf("recovered %v, rooms %v; want true with r", s.Recovered(), s.Rooms())
	}
	got, last := missed(t, c2, w3)
	if want := []string{"missed", "direct"}; !slices.Equal(got, want) {
		t.Fatalf("missed packets %q, want %q", got, want)
	}
	tc.waitRoom(t, "r", 3)         // w1 released its hold, w3 has the member
	tc.waitRoom(t, pidRoom(c.pid)) // nobody routes the session any more

	t.Run("second restore of the same session", func(t *testing.T) {
		again := dialAuth(t, w2, "again", recoverAuth(c.pid, offset))
		if again.sid == c.sid || again.pid == c.pid || w2.socket(t, again.sid).Recovered() {
			t.Fatalf("second restore gave sid %s pid %s, want a fresh session", again.sid, again.pid)
		}
	})

	t.Run("restored again from the offset the first holder issued", func(t *testing.T) {
		tc.drop(t, c2, w3)
		tc.waitRoom(t, "r", 3)
		if err := w1.io.To("r").Emit("ev", "missed again"); err != nil {
			t.Fatal(err)
		}
		w1.synced()
		c3 := dialAuth(t, w1, "c3", recoverAuth(c.pid, last))
		if c3.sid != c.sid {
			t.Fatalf("restored sid %s, want %s", c3.sid, c.sid)
		}
		if got, _ := missed(t, c3, w1); !slices.Equal(got, []string{"missed again"}) {
			t.Fatalf("missed packets %q, want [missed again]", got)
		}
		tc.waitRoom(t, "r", 1)
		// Its rooms are back: live broadcasts from any worker reach it.
		if err := w2.io.To("r").Emit("ev", "after"); err != nil {
			t.Fatal(err)
		}
		if p, _ := payload(t, c3.next(t)); p != "after" {
			t.Fatalf("got %q, want after", p)
		}
	})
}

func TestRecoveryOnTheSameWorker(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	tc := recoveryCluster(t, 2, time.Minute, 2*time.Second)
	w1, w2 := tc.workers[0], tc.workers[1]
	c := dialAuth(t, w1, "c", "")
	witness := dialAuth(t, w1, "witness", "")
	w1.socket(t, c.sid).Join("r")
	w1.socket(t, witness.sid).Join("r")
	if err := w2.io.To("r").Emit("ev", "before"); err != nil {
		t.Fatal(err)
	}
	_, offset := payload(t, c.next(t))
	tc.drop(t, c, w1)
	if err := w2.io.To("r").Emit("ev", "missed"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"before", "missed"} { // w1 has applied both
		if p, _ := payload(t, witness.next(t)); p != want {
			t.Fatalf("witness got %q, want %q", p, want)
		}
	}
	c2 := dialAuth(t, w1, "c2", recoverAuth(c.pid, offset))
	if c2.sid != c.sid {
		t.Fatalf("restored sid %s, want %s", c2.sid, c.sid)
	}
	if got, _ := missed(t, c2, w1); !slices.Equal(got, []string{"missed"}) {
		t.Fatalf("missed packets %q, want [missed]", got)
	}
	tc.waitRoom(t, pidRoom(c.pid))
	c2.Close()
	tc.waitRoom(t, pidRoom(c.pid), 1) // persisted again, routed again
}

func TestRecoveryExpired(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	tc := recoveryCluster(t, 2, 200*time.Millisecond, 2*time.Second)
	w1, w2 := tc.workers[0], tc.workers[1]
	c, offset := memberWithOffset(t, w1, w2)
	tc.drop(t, c, w1)
	// The hold ends by itself: no room of the session stays routed.
	tc.waitRoom(t, pidRoom(c.pid))
	tc.waitRoom(t, "r")
	tc.waitRoom(t, c.sid)
	for _, w := range []*testWorker{w1, w2} {
		got := dialAuth(t, w, "late", recoverAuth(c.pid, offset))
		if got.sid == c.sid || w.socket(t, got.sid).Recovered() {
			t.Fatalf("worker %d restored an expired session", w.id)
		}
	}
}

func TestRecoveryHolderDied(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	// A request timeout longer than the connect wait: the answer must
	// come because the holder is known gone, not because time ran out.
	tc := recoveryCluster(t, 3, time.Minute, 10*wait)
	w1, w3 := tc.workers[0], tc.workers[2]
	c, offset := memberWithOffset(t, w1, w3)
	tc.drop(t, c, w1)
	tc.hub.WorkerGone(w1.id)
	<-w1.lost
	got := dialAuth(t, w3, "c2", recoverAuth(c.pid, offset))
	if got.sid == c.sid || got.pid == c.pid {
		t.Fatalf("restored sid %s from a dead worker", got.sid)
	}
}

func TestRecoveryConcurrentRestores(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	tc := recoveryCluster(t, 3, time.Minute, 2*time.Second)
	w1, w2, w3 := tc.workers[0], tc.workers[1], tc.workers[2]
	c, offset := memberWithOffset(t, w1, w2)
	tc.drop(t, c, w1)

	workers := []*testWorker{w1, w2, w3, w2, w3}
	clients := make([]*client, len(workers))
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clients[i], errs[i] = connect(t, w, fmt.Sprint("c", i), nil, recoverAuth(c.pid, offset))
		}()
	}
	wg.Wait()
	restored := 0
	for i, cl := range clients {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if cl.sid == c.sid {
			restored++
		}
	}
	if restored != 1 {
		t.Fatalf("%d clients restored the session, want 1", restored)
	}
}

// A holder that does not answer, or answers garbage, gives a fresh session
// once the request timeout passes (or at once for an answer).
func TestRecoveryBadHolder(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	tc := recoveryCluster(t, 1, time.Minute, 300*time.Millisecond)
	w1 := tc.workers[0]
	r := newRogue(t, tc, 9)
	r.send(t, ipc.HubMessage{Type: ipc.HubRooms, Nsp: "/", Deltas: []ipc.RoomDelta{{Op: ipc.NspJoin}}})
	tests := []struct {
		name   string
		answer []byte // nil: never answers
	}{
		{"never answers", nil},
		{"not found", []byte{0}},
		{"unknown answer kind", []byte{7}},
		{"truncated session", []byte{1, 3, 0, 0, 0, 'a'}},
		{"data not JSON", le32(hub.AppendString(hub.AppendList(hub.AppendString(hub.AppendString([]byte{1}, "sid"), "pid"), []string(nil)), "{"), 0)},
		{"no sid", le32(hub.AppendString(hub.AppendList(hub.AppendString(hub.AppendString([]byte{1}, ""), "pid"), []string(nil)), "null"), 0)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid := fmt.Sprint("rogue-pid-", i)
			r.send(t, ipc.HubMessage{Type: ipc.HubRooms, Nsp: "/", Deltas: []ipc.RoomDelta{{Op: ipc.RoomAdd, Room: pidRoom(pid)}}})
			tc.waitRoom(t, pidRoom(pid), 9)
			done := make(chan *client, 1)
			go func() {
				cl, err := connect(t, w1, "c", nil, recoverAuth(pid, "off"))
				if err != nil {
					t.Error(err)
				}
				done <- cl
			}()
			req := r.next(t)
			if req.Type != ipc.HubRequest || !slices.Equal(req.Rooms, []string{pidRoom(pid)}) {
				t.Fatalf("rogue got %s to %q, want a request to the pid room", req.Type, req.Rooms)
			}
			if want := hub.AppendString(hub.AppendString([]byte{hub.RequestRestore}, pid), "off"); string(req.Payload) != string(want) {
				t.Fatalf("request payload %q, want %q", req.Payload, want)
			}
			if tt.answer != nil {
				r.send(t, ipc.HubMessage{Type: ipc.HubResponse, Instance: req.Instance, ReqID: req.ReqID, Flags: ipc.HubFinal, Payload: tt.answer})
			}
			cl := <-done
			if cl == nil {
				return
			}
			if cl.pid == pid || w1.socket(t, cl.sid).Recovered() {
				t.Fatalf("session %s restored from a bad answer", pid)
			}
		})
	}
}

// A malformed restore request from another worker is answered empty.
func TestRecoveryBadRequest(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	tc := recoveryCluster(t, 1, time.Minute, 2*time.Second)
	r := newRogue(t, tc, 9)
	tests := []struct {
		name    string
		payload []byte
	}{
		{"truncated", []byte{hub.RequestRestore, 9, 0}},
		{"trailing bytes", append(hub.AppendString(hub.AppendString([]byte{hub.RequestRestore}, "p"), "o"), 1)},
		{"unknown session", hub.AppendString(hub.AppendString([]byte{hub.RequestRestore}, "p"), "o")},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.send(t, ipc.HubMessage{Type: ipc.HubRequest, ReqID: uint64(i + 1), Nsp: "/", Payload: tt.payload})
			if m := r.next(t); m.Type != ipc.HubRouted || !slices.Equal(m.Instances, []uint32{1}) {
				t.Fatalf("got %s to %v, want routed to [1]", m.Type, m.Instances)
			}
			m := r.next(t)
			got := string(m.Payload)
			want := map[bool]string{true: "", false: "\x00"}[i < 2]
			if m.Type != ipc.HubResponse || m.ReqID != uint64(i+1) || m.Flags&ipc.HubFinal == 0 || got != want {
				t.Fatalf("got %s %d flags %d payload %q, want a final response %q", m.Type, m.ReqID, m.Flags, got, want)
			}
		})
	}
}
