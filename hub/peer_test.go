package hub

import (
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
	"golang.org/x/sys/unix"
)

// hubWait bounds every wait in the hub tests; reaching it is a failure.
const hubWait = 10 * time.Second

// leakWait is how long hub tests give fds and goroutines to come back to
// their baseline (testutil.CheckNoLeaks; call it first in a test so that its
// cleanup runs last).
var leakWait = testutil.Within(hubWait, 5*time.Millisecond)

// hubPeer is the worker end of one hub link served by a Server.
type hubPeer struct {
	id      uint32
	raw     net.Conn
	fc      *ipc.FrameConn
	msgs    chan ipc.HubMessage
	readErr chan error
	served  chan struct{}
}

// startHubPeer links a new worker end to h as instance id. With read, a
// goroutine decodes every frame into msgs; without, nothing reads the link.
func startHubPeer(t testing.TB, h *Server, id uint32, read bool) *hubPeer {
	wc, hc := testutil.SocketPair(t)
	p := &hubPeer{
		id:      id,
		raw:     wc,
		fc:      ipc.NewFrameConn(wc, 0),
		msgs:    make(chan ipc.HubMessage, 1024),
		readErr: make(chan error, 1),
		served:  make(chan struct{}),
	}
	go func() {
		h.Serve(id, ipc.NewFrameConn(hc, 0))
		close(p.served)
	}()
	if read {
		p.startReading(t)
	}
	t.Cleanup(func() {
		p.fc.Close()
		<-p.served
	})
	return p
}

func (p *hubPeer) startReading(t testing.TB) {
	go func() {
		defer close(p.msgs)
		for {
			typ, b, err := p.fc.ReadFrame()
			if err != nil {
				p.readErr <- err
				return
			}
			m, err := ipc.DecodeHubMessage(typ, b)
			if err != nil {
				p.readErr <- fmt.Errorf("peer %d: bad frame from hub: %w", p.id, err)
				return
			}
			p.msgs <- m
		}
	}()
}

func (p *hubPeer) send(t testing.TB, m ipc.HubMessage) {
	t.Helper()
	b, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.fc.WriteFrame(byte(m.Type), b); err != nil {
		t.Fatalf("peer %d: %v", p.id, err)
	}
}

func (p *hubPeer) next(t testing.TB) ipc.HubMessage {
	t.Helper()
	select {
	case m, ok := <-p.msgs:
		if !ok {
			t.Fatalf("peer %d: link ended: %v", p.id, <-p.readErr)
		}
		return m
	case <-time.After(hubWait):
		t.Fatalf("peer %d: no frame within %v", p.id, hubWait)
	}
	return ipc.HubMessage{}
}

// waitMembers reads until a HubMembers frame lists want (ascending).
func (p *hubPeer) waitMembers(t testing.TB, want ...uint32) {
	t.Helper()
	for {
		m := p.next(t)
		if m.Type != ipc.HubMembers {
			t.Fatalf("peer %d: got %s frame %+v while waiting for members %v", p.id, m.Type, m, want)
		}
		if m.Instance != p.id {
			t.Fatalf("peer %d: members frame names self %d", p.id, m.Instance)
		}
		if slices.Equal(m.Instances, want) {
			return
		}
	}
}

// waitEnd waits until the hub has closed p's link and Serve returned.
func (p *hubPeer) waitEnd(t testing.TB) {
	t.Helper()
	for {
		select {
		case _, ok := <-p.msgs:
			if ok {
				continue
			}
		case <-time.After(hubWait):
			t.Fatalf("peer %d: link still open after %v", p.id, hubWait)
		}
		break
	}
	if err := <-p.readErr; !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, unix.ECONNRESET) {
		t.Fatalf("peer %d: link ended with %v, want EOF", p.id, err)
	}
	select {
	case <-p.served:
	case <-time.After(hubWait):
		t.Fatalf("peer %d: Serve still running", p.id)
	}
}

func (p *hubPeer) join(t testing.TB, h *Server, nsp string, rooms ...string) {
	t.Helper()
	m := ipc.HubMessage{Type: ipc.HubRooms, Nsp: nsp, Deltas: []ipc.RoomDelta{{Op: ipc.NspJoin}}}
	for _, r := range rooms {
		m.Deltas = append(m.Deltas, ipc.RoomDelta{Op: ipc.RoomAdd, Room: r})
	}
	p.send(t, m)
	for _, r := range append(rooms, "") {
		testutil.CheckFor(t, hubWait, time.Millisecond, func() error {
			if r == "" {
				if !slices.Contains(h.nspMembers(nsp), p.id) {
					return fmt.Errorf("instance %d not in namespace %q", p.id, nsp)
				}
				return nil
			}
			if !slices.Contains(h.RoomInstances(nsp, r), p.id) {
				return fmt.Errorf("instance %d not indexed in room %q", p.id, r)
			}
			return nil
		})
	}
}

func (h *Server) nspMembers(nsp string) []uint32 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if idx := h.nsps[nsp]; idx != nil {
		return slices.Clone(idx.members)
	}
	return nil
}

func bcast(nsp string, payload string, rooms ...string) ipc.HubMessage {
	return ipc.HubMessage{Type: ipc.HubBroadcast, Nsp: nsp, Rooms: rooms, Payload: []byte(payload)}
}

// nextBroadcast reads p's next frame, which must be a broadcast.
func (p *hubPeer) nextBroadcast(t testing.TB) ipc.HubMessage {
	t.Helper()
	m := p.next(t)
	if m.Type != ipc.HubBroadcast {
		t.Fatalf("peer %d: got %s %+v, want a broadcast", p.id, m.Type, m)
	}
	return m
}

// startHubPeers starts peers 1..n, all reading, and waits until each has
// seen the full member set.
func startHubPeers(t testing.TB, h *Server, n int) []*hubPeer {
	var peers []*hubPeer
	var ids []uint32
	for i := 1; i <= n; i++ {
		peers = append(peers, startHubPeer(t, h, uint32(i), true))
		ids = append(ids, uint32(i))
	}
	for _, p := range peers {
		p.waitMembers(t, ids...)
	}
	return peers
}

func newTestHub(t testing.TB) *Server {
	h := NewServer(Options{})
	t.Cleanup(func() { h.Close() })
	return h
}

func mustEncode(t testing.TB, m ipc.HubMessage) []byte {
	t.Helper()
	b, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// overflowBytes returns the bytes waiting in the hub queue of instance id.
func (h *Server) overflowBytes(id uint32) int {
	h.mu.RLock()
	m := h.members[id]
	h.mu.RUnlock()
	if m == nil {
		return 0
	}
	m.queue.mu.Lock()
	defer m.queue.mu.Unlock()
	return m.queue.bytes
}
