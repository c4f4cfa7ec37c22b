package hub

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
	"golang.org/x/sys/unix"
)

func TestHubBroadcastRouting(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	h := newTestHub(t)
	ps := startHubPeers(t, h, 3)
	a, b, c := ps[0], ps[1], ps[2]
	a.join(t, h, "/", "r1")
	b.join(t, h, "/", "r1", "r2")
	c.join(t, h, "/", "other")
	c.join(t, h, "/x", "r1")

	tests := []struct {
		name  string
		rooms []string
		wantB bool
		wantC bool
	}{
		{"room held by b only (and the sender)", []string{"r1"}, true, false},
		{"two target rooms, b in both: once", []string{"r1", "r2"}, true, false},
		{"room nobody holds", []string{"none"}, false, false},
		{"whole namespace", nil, true, true},
		{"rooms of b and c", []string{"r2", "other"}, true, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := fmt.Sprintf("msg-%d", i)
			a.send(t, bcast("/", payload, tt.rooms...))
			a.send(t, bcast("/", "marker")) // reaches b and c after msg, in order
			for _, p := range []struct {
				peer *hubPeer
				want bool
			}{{b, tt.wantB}, {c, tt.wantC}} {
				m := p.peer.nextBroadcast(t)
				if p.want {
					if got, want := string(m.Payload), payload; got != want {
						t.Fatalf("peer %d: got %q, want %q", p.peer.id, got, want)
					}
					if got, want := m.Instance, a.id; got != want {
						t.Fatalf("peer %d: origin %d, want %d", p.peer.id, got, want)
					}
					if !slices.Equal(m.Rooms, tt.rooms) {
						t.Fatalf("peer %d: rooms %q, want %q", p.peer.id, m.Rooms, tt.rooms)
					}
					m = p.peer.nextBroadcast(t)
				}
				if got := string(m.Payload); got != "marker" {
					t.Fatalf("peer %d: got %q, want the marker (nothing before it)", p.peer.id, got)
				}
			}
		})
	}

	// The sender never receives its own broadcast: b's marker reaches a.
	b.send(t, bcast("/", "from-b", "r1"))
	b.send(t, bcast("/", "marker-b"))
	if got := string(a.nextBroadcast(t).Payload); got != "from-b" {
		t.Fatalf("a got %q, want from-b", got)
	}
	if got := string(a.nextBroadcast(t).Payload); got != "marker-b" {
		t.Fatalf("a got %q, want marker-b", got)
	}
	if got := string(c.nextBroadcast(t).Payload); got != "marker-b" {
		t.Fatalf("c got %q, want marker-b only", got)
	}

	// After b's last member of r2 leaves, r2 routes nowhere.
	b.send(t, ipc.HubMessage{Type: ipc.HubRooms, Nsp: "/", Deltas: []ipc.RoomDelta{{Op: ipc.RoomDel, Room: "r2"}}})
	testutil.CheckFor(t, hubWait, time.Millisecond, func() error {
		if ids := h.RoomInstances("/", "r2"); ids != nil {
			return fmt.Errorf("r2 still on %v", ids)
		}
		return nil
	})
	a.send(t, bcast("/", "late", "r2"))
	a.send(t, bcast("/", "marker2"))
	for _, p := range []*hubPeer{b, c} {
		if got := string(p.nextBroadcast(t).Payload); got != "marker2" {
			t.Fatalf("peer %d got %q after b left r2, want marker2", p.id, got)
		}
	}

	// Namespaces are separate: "/x" r1 is c's only.
	a.send(t, bcast("/x", "x-msg", "r1"))
	a.send(t, bcast("/", "marker3"))
	if got := string(c.nextBroadcast(t).Payload); got != "x-msg" {
		t.Fatalf("c got %q, want x-msg", got)
	}
	for _, p := range []*hubPeer{b, c} {
		if got := string(p.nextBroadcast(t).Payload); got != "marker3" {
			t.Fatalf("peer %d got %q, want marker3", p.id, got)
		}
	}
}

func TestHubOrdering(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	h := newTestHub(t)
	ps := startHubPeers(t, h, 3)
	a, b := ps[0], ps[1]
	b.join(t, h, "/", "r")
	ps[2].join(t, h, "/", "r")
	const n = 5000
	go func() {
		for i := 0; i < n; i++ {
			m := bcast("/", "", "r")
			m.Payload = binary.LittleEndian.AppendUint32(nil, uint32(i))
			if i%7 == 0 { // requests and broadcasts share one order
				m = ipc.HubMessage{Type: ipc.HubRequest, ReqID: uint64(i), Nsp: "/", Rooms: []string{"r"}, Payload: m.Payload}
			}
			b, _ := m.AppendBinary(nil)
			if a.fc.WriteFrame(byte(m.Type), b) != nil {
				return
			}
		}
	}()
	for _, p := range ps[1:] {
		for i := 0; i < n; i++ {
			m := p.next(t)
			if got := binary.LittleEndian.Uint32(m.Payload); got != uint32(i) {
				t.Fatalf("peer %d: message %d carries %d", p.id, i, got)
			}
		}
	}
	for i := 0; i < n; i += 7 {
		m := a.next(t)
		if m.Type != ipc.HubRouted || m.ReqID != uint64(i) || !slices.Equal(m.Instances, []uint32{2, 3}) {
			t.Fatalf("a: got %+v, want routed %d to [2 3]", m, i)
		}
	}
}

func TestHubRequestResponse(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	h := newTestHub(t)
	ps := startHubPeers(t, h, 3)
	a, b, c := ps[0], ps[1], ps[2]
	for _, p := range ps {
		p.join(t, h, "/")
	}
	b.join(t, h, "/", "rb")

	a.send(t, ipc.HubMessage{Type: ipc.HubRequest, ReqID: 7, Nsp: "/", Rooms: []string{"rb"}, Payload: []byte("q")})
	if m := a.next(t); m.Type != ipc.HubRouted || m.ReqID != 7 || !slices.Equal(m.Instances, []uint32{2}) {
		t.Fatalf("a: got %+v, want routed 7 to [2]", m)
	}
	if m := b.next(t); m.Type != ipc.HubRequest || m.Instance != 1 || m.ReqID != 7 || string(m.Payload) != "q" {
		t.Fatalf("b: got %+v, want request 7 from 1", m)
	}
	b.send(t, ipc.HubMessage{Type: ipc.HubResponse, Instance: 1, ReqID: 7, Flags: ipc.HubFinal, Payload: []byte("ans")})
	if m := a.next(t); m.Type != ipc.HubResponse || m.Instance != 2 || m.ReqID != 7 || m.Flags != ipc.HubFinal || string(m.Payload) != "ans" {
		t.Fatalf("a: got %+v, want the response of 2", m)
	}
	// A response to an instance that is not live is dropped; c got nothing.
	b.send(t, ipc.HubMessage{Type: ipc.HubResponse, Instance: 99, ReqID: 7})
	b.send(t, bcast("/", "marker"))
	for _, p := range []*hubPeer{a, c} {
		if got := string(p.nextBroadcast(t).Payload); got != "marker" {
			t.Fatalf("peer %d: got %q, want the marker", p.id, got)
		}
	}
	// A request to the whole namespace is routed to everyone else.
	c.send(t, ipc.HubMessage{Type: ipc.HubRequest, ReqID: 8, Nsp: "/"})
	if m := c.next(t); m.Type != ipc.HubRouted || !slices.Equal(m.Instances, []uint32{1, 2}) {
		t.Fatalf("c: got %+v, want routed to [1 2]", m)
	}
	// An unknown namespace routes to nobody.
	c.send(t, ipc.HubMessage{Type: ipc.HubRequest, ReqID: 9, Nsp: "/nope"})
	if m := c.next(t); m.Type != ipc.HubRouted || m.ReqID != 9 || len(m.Instances) != 0 {
		t.Fatalf("c: got %+v, want routed 9 to nobody", m)
	}
}

func TestHubDeadWorker(t *testing.T) {
	for _, how := range []string{"link closed", "WorkerGone"} {
		t.Run(how, func(t *testing.T) {
			testutil.CheckNoLeaks(t, leakWait)
			h := newTestHub(t)
			ps := startHubPeers(t, h, 3)
			a, b, c := ps[0], ps[1], ps[2]
			a.join(t, h, "/")
			b.join(t, h, "/")
			c.join(t, h, "/", "rc")

			a.send(t, ipc.HubMessage{Type: ipc.HubRequest, ReqID: 1, Nsp: "/"})
			if m := a.next(t); m.Type != ipc.HubRouted || !slices.Equal(m.Instances, []uint32{2, 3}) {
				t.Fatalf("a: got %+v, want routed to [2 3]", m)
			}
			if how == "WorkerGone" {
				h.WorkerGone(c.id)
				c.waitEnd(t)
			} else {
				c.fc.Close()
			}
			// The requester and the other peer learn at once; the request's
			// only other target is still b.
			a.waitMembers(t, 1, 2)
			b.next(t) // the request
			b.waitMembers(t, 1, 2)
			<-c.served
			if ids := h.RoomInstances("/", "rc"); ids != nil {
				t.Fatalf("room rc still on %v", ids)
			}
			if got, want := h.nspMembers("/"), []uint32{1, 2}; !slices.Equal(got, want) {
				t.Fatalf("namespace members %v, want %v", got, want)
			}
			a.send(t, ipc.HubMessage{Type: ipc.HubRequest, ReqID: 2, Nsp: "/", Rooms: []string{"rc"}})
			if m := a.next(t); m.Type != ipc.HubRouted || m.ReqID != 2 || len(m.Instances) != 0 {
				t.Fatalf("a: got %+v, want routed to nobody", m)
			}
			h.WorkerGone(c.id) // idempotent
			h.WorkerGone(42)   // unknown: ignored
		})
	}
}

func TestHubBadFrameClosesOnlyThatLink(t *testing.T) {
	le := binary.LittleEndian
	frame := func(typ byte, payload []byte) []byte {
		b := le.AppendUint32(nil, uint32(1+len(payload)))
		return append(append(b, typ), payload...)
	}
	members, _ := (&ipc.HubMessage{Type: ipc.HubMembers, Instance: 1}).AppendBinary(nil)
	tests := []struct {
		name string
		raw  []byte
	}{
		{"unknown type", frame(99, []byte("x"))},
		{"hello again", frame(ipc.FrameHello, make([]byte, 40))},
		{"hub-to-worker type", frame(byte(ipc.HubMembers), members)},
		{"truncated broadcast route", frame(byte(ipc.HubBroadcast), []byte{0, 0, 0, 0, 0, 9, 0, 0, 0})},
		{"short response", frame(byte(ipc.HubResponse), []byte{1, 0, 0, 0})},
		{"bad room op", frame(byte(ipc.HubRooms), []byte{1, 0, 0, 0, '/', 1, 0, 0, 0, 9, 0, 0, 0, 0})},
		{"zero-length frame", []byte{0, 0, 0, 0}},
		{"oversized frame", le.AppendUint32(nil, ipc.MaxHubFrame+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.CheckNoLeaks(t, leakWait)
			h := newTestHub(t)
			ps := startHubPeers(t, h, 3)
			a, b, c := ps[0], ps[1], ps[2]
			a.join(t, h, "/", "ra")
			b.join(t, h, "/")
			c.join(t, h, "/")
			if _, err := a.raw.Write(tt.raw); err != nil {
				t.Fatal(err)
			}
			a.waitEnd(t)
			b.waitMembers(t, 2, 3)
			c.waitMembers(t, 2, 3)
			if ids := h.RoomInstances("/", "ra"); ids != nil {
				t.Fatalf("room ra still on %v", ids)
			}
			b.send(t, bcast("/", "still-up"))
			if got := string(c.nextBroadcast(t).Payload); got != "still-up" {
				t.Fatalf("c got %q, want still-up", got)
			}
		})
	}
}

func TestHubServeRefusesDuplicateAndAfterClose(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	h := NewServer(Options{})
	a := startHubPeer(t, h, 1, true)
	a.waitMembers(t, 1)
	dup := startHubPeer(t, h, 1, true)
	dup.waitEnd(t)
	h.Close()
	a.waitEnd(t)
	late := startHubPeer(t, h, 2, true)
	late.waitEnd(t)
	if ids := h.Instances(); len(ids) != 0 {
		t.Fatalf("live instances %v after Close, want none", ids)
	}
}

// BenchmarkHubRelay measures 64-byte broadcasts from one worker through the
// hub to another worker that has a member of the target room.
func BenchmarkHubRelay(b *testing.B) { benchHubRelay(b, Options{}) }

func TestHubJoinIndexesTargets(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	h := newTestHub(t)
	ps := startHubPeers(t, h, 3)
	a, b, c := ps[0], ps[1], ps[2]
	a.join(t, h, "/")
	b.join(t, h, "/", "r")
	c.join(t, h, "/")
	join := bcast("/", "join-op", "r")
	join.Flags = ipc.HubJoin
	join.JoinRooms = []string{"j"}
	a.send(t, join)
	a.send(t, bcast("/", "after", "j")) // routed by the index the join updated
	a.send(t, bcast("/", "marker"))
	if m := b.nextBroadcast(t); string(m.Payload) != "join-op" || !slices.Equal(m.JoinRooms, []string{"j"}) {
		t.Fatalf("b got %+v, want the join", m)
	}
	for _, want := range []string{"after", "marker"} {
		if got := string(b.nextBroadcast(t).Payload); got != want {
			t.Fatalf("b got %q, want %q", got, want)
		}
	}
	if got := string(c.nextBroadcast(t).Payload); got != "marker" {
		t.Fatalf("c got %q, want the marker only", got)
	}
	if got, want := h.RoomInstances("/", "j"), []uint32{2}; !slices.Equal(got, want) {
		t.Fatalf("room j on %v, want %v", got, want)
	}
	// b found no member to join: it withdraws the room.
	b.send(t, ipc.HubMessage{Type: ipc.HubRooms, Nsp: "/", Deltas: []ipc.RoomDelta{{Op: ipc.RoomDel, Room: "j"}}})
	testutil.CheckFor(t, hubWait, time.Millisecond, func() error {
		if ids := h.RoomInstances("/", "j"); ids != nil {
			return fmt.Errorf("room j still on %v", ids)
		}
		return nil
	})
}

func TestHubSyncIsABarrier(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	h := newTestHub(t)
	a := startHubPeers(t, h, 1)[0]
	for i := uint64(1); i <= 50; i++ {
		room := fmt.Sprint("r", i)
		a.send(t, ipc.HubMessage{Type: ipc.HubRooms, Nsp: "/", Deltas: []ipc.RoomDelta{{Op: ipc.RoomAdd, Room: room}}})
		a.send(t, ipc.HubMessage{Type: ipc.HubSync, ReqID: i})
		if m := a.next(t); m.Type != ipc.HubSync || m.ReqID != i {
			t.Fatalf("got %+v, want sync %d", m, i)
		}
		if ids := h.RoomInstances("/", room); !slices.Equal(ids, []uint32{1}) {
			t.Fatalf("after sync %d: room %s on %v, want [1]", i, room, ids)
		}
	}
}

// TestHubLinkResetByExitingWorker: a worker that exits with hub frames
// unread (a member update sent while it drained) resets its link. The hub
// drops the link like any other end, and logs it at debug: the worker's
// exit is the supervisor's to report, and a clean drain warns of nothing.
func TestHubLinkResetByExitingWorker(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	var logs testutil.LogBuffer
	h := NewServer(Options{Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace})})
	t.Cleanup(func() { h.Close() })
	quiet := startHubPeer(t, h, 1, false) // reads nothing: the member sets stay queued
	other := startHubPeer(t, h, 2, true)
	other.waitMembers(t, 1, 2)
	testutil.CheckFor(t, hubWait, time.Millisecond, func() error { // the hub's frames reach quiet
		rc, err := quiet.raw.(syscall.Conn).SyscallConn()
		if err != nil {
			return err
		}
		var n int
		if cerr := rc.Control(func(fd uintptr) { n, err = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }); cerr != nil {
			return cerr
		}
		if err == nil && n == 0 {
			err = errors.New("nothing queued for the quiet worker yet")
		}
		return err
	})
	if err := quiet.raw.Close(); err != nil { // unread bytes: the kernel resets the link
		t.Fatal(err)
	}
	select {
	case <-quiet.served:
	case <-time.After(hubWait):
		t.Fatal("Serve still running after the worker end was reset")
	}
	other.waitMembers(t, 2)
	got := logs.String()
	// The hub's read meets the reset (ECONNRESET), or, when its write to
	// the closed peer failed first (EPIPE) and closed the link, the end
	// of the link: a debug line either way.
	if !strings.Contains(got, "[DEBUG] hub link down: instance=1") {
		t.Errorf("no debug line for the reset link; log:\n%s", got)
	}
	if strings.Contains(got, "[WARN]") || strings.Contains(got, "[ERROR]") {
		t.Errorf("a reset by an exiting worker logged a warning:\n%s", got)
	}
}
