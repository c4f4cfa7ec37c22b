package adapter

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/stickyd/stickyd/hub"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/socketio"
)

// Connection state recovery across workers.
//
// The worker where a socket disconnects keeps its session (the embedded
// InMemoryAdapter's store) and, until the session is restored or expires,
// holds the session's rooms announced to the hub (room presence counts
// both members and held sessions), so that broadcasts from every worker
// keep reaching its store of missed packets. It also holds the session's
// route room, pidRoom(pid), through which a restore request reaches it and
// no other worker.
//
// A worker whose RestoreSession misses locally sends hub.RequestRestore to the
// route room; the holder restores the session there (under Adapter.mu,
// so at most once: the first request wins, a second one finds nothing),
// releases its rooms and answers with the session and its missed packets.
// The requester then adopts the client's last offset (the holder's) so
// that the session can be restored from it here later.

// pidRoom is the hub room held by the worker that stores session pid. The
// NUL prefix keeps it apart from the rooms applications use; it has no
// local member, so it appears in no room listing.
func pidRoom(pid string) string { return "\x00pid:" + pid }

// keptSession is a session whose rooms this worker holds announced.
type keptSession struct {
	rooms     []string    // held rooms (the route room once persisted)
	persisted bool        // PersistSession stored it
	timer     *time.Timer // expiry, armed by PersistSession
}

var _ socketio.SessionKeeper = (*Adapter)(nil)

// KeepSession holds the rooms of s announced to the hub before its socket
// leaves them (socketio calls it before DelAll), so that broadcasts from
// other workers reach this worker's store of missed packets without a gap.
// The hold ends when the session is restored (here or by another worker)
// or expires. No-op without connection state recovery.
func (a *Adapter) KeepSession(s *socketio.Session) {
	if a.nsp.RecoveryOptions() == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.releaseLocked(s.PID) // a stale hold of the same pid
	a.holdLocked(s.PID, s.Rooms)
}

// holdLocked starts holding rooms for session pid.
func (a *Adapter) holdLocked(pid string, rooms []string) *keptSession {
	k := &keptSession{}
	var deltas []ipc.RoomDelta
	for i, r := range rooms {
		if !slices.Contains(rooms[:i], r) {
			deltas = a.incr(deltas, r)
			k.rooms = append(k.rooms, r)
		}
	}
	a.announce(deltas)
	a.kept[pid] = k
	return k
}

// PersistSession stores s in this worker's store, holds its rooms (see
// KeepSession) and its route room, and arms its expiry: after
// MaxDisconnectionDuration the session is dropped and its rooms are
// released, so room presence always goes away. No-op without connection
// state recovery.
func (a *Adapter) PersistSession(s *socketio.Session) {
	rec := a.nsp.RecoveryOptions()
	if rec == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	k := a.kept[s.PID]
	if k == nil || k.persisted {
		a.releaseLocked(s.PID)
		k = a.holdLocked(s.PID, s.Rooms)
	}
	a.InMemoryAdapter.PersistSession(s)
	k.persisted = true
	route := pidRoom(s.PID)
	k.rooms = append(k.rooms, route)
	a.announce(a.incr(nil, route))
	pid := s.PID
	k.timer = time.AfterFunc(rec.MaxDisconnectionDuration, func() { a.expireSession(pid, k) })
}

// expireSession drops session pid when its time is up, unless it was
// restored (or persisted anew) meanwhile.
func (a *Adapter) expireSession(pid string, k *keptSession) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.kept[pid] != k {
		return
	}
	a.InMemoryAdapter.DropSession(pid)
	a.releaseLocked(pid)
}

// releaseLocked ends the hold of session pid, announcing the rooms it no
// longer has.
func (a *Adapter) releaseLocked(pid string) {
	k := a.kept[pid]
	if k == nil {
		return
	}
	delete(a.kept, pid)
	if k.timer != nil {
		k.timer.Stop()
	}
	var deltas []ipc.RoomDelta
	for _, r := range k.rooms {
		deltas = a.decr(deltas, r)
	}
	a.announce(deltas)
}

// releaseAll ends every hold (Close); the sessions stay in the store.
func (a *Adapter) releaseAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for pid := range a.kept {
		a.releaseLocked(pid)
	}
}

// take restores session pid from this worker's store and releases its
// hold. held reports whether this worker held the persisted session (then
// there is no point in asking the cluster).
func (a *Adapter) take(pid, offset string) (s *socketio.Session, held bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, _ = a.InMemoryAdapter.RestoreSession(pid, offset)
	if k := a.kept[pid]; k != nil && k.persisted {
		held = true
		a.releaseLocked(pid)
	}
	return s, held || s != nil
}

// RestoreSession returns session pid with the packets it missed after
// offset, and forgets it, wherever in the cluster it is stored: from this
// worker's store, else from the worker that holds it (one hub request to
// the session's route room, bounded by Options.RequestTimeout). It returns
// (nil, nil) when no live worker holds the session, it expired, or offset
// is unknown to the holder; (nil, error wrapping socketio.ErrTimeout) when
// the holder did not answer in time (the session may then be lost: it is
// restored at most once, never twice). A restored session's Data is the
// JSON the holder marshalled (json.RawMessage; nil for null). No-op
// without connection state recovery.
func (a *Adapter) RestoreSession(pid, offset string) (*socketio.Session, error) {
	if a.nsp.RecoveryOptions() == nil {
		return nil, nil
	}
	if s, here := a.take(pid, offset); here {
		return s, nil
	}
	var found *socketio.Session
	payload := hub.AppendString(hub.AppendString([]byte{hub.RequestRestore}, pid), offset)
	err := a.gather(context.Background(), "restoreSession", []string{pidRoom(pid)}, payload, func(from uint32, p []byte) error {
		s, err := decodeSession(p)
		if err != nil {
			return err
		}
		if s != nil && found == nil {
			found = s
		}
		return nil
	})
	if found == nil {
		if err != nil {
			a.c.log.Warn("session not restored", "nsp", a.name, "error", err)
		}
		return nil, err
	}
	last := offset
	if n := len(found.MissedPackets); n > 0 {
		if o, ok := lastOffset(found.MissedPackets[n-1]); ok {
			last = o
		}
	}
	a.InMemoryAdapter.AdoptOffset(found.PID, last)
	a.c.log.Debug("session restored from another worker", "nsp", a.name, "sid", found.SID, "missed", len(found.MissedPackets))
	return found, nil
}

// answerRestore restores session pid for another worker and encodes the
// answer: u8 found (0: nothing follows), str sid, str pid, list rooms, str
// data (JSON), list of packets (str text, list attachments each).
func (a *Adapter) answerRestore(pid, offset string) []byte {
	s, _ := a.take(pid, offset)
	if s == nil {
		return []byte{0}
	}
	data := []byte("null")
	if s.Data != nil {
		j, err := json.Marshal(s.Data)
		if err != nil {
			a.c.log.Error("restored session's data not encodable, sent as null", "nsp", a.name, "sid", s.SID, "error", err)
		} else {
			data = j
		}
	}
	b := []byte{1}
	b = hub.AppendString(b, s.SID)
	b = hub.AppendString(b, s.PID)
	b = hub.AppendList(b, s.Rooms)
	b = hub.AppendString(b, string(data))
	b = le32(b, len(s.MissedPackets))
	for _, p := range s.MissedPackets {
		b = hub.AppendPacket(b, p)
	}
	if len(b)+restoreHeader > ipc.MaxHubFrame {
		a.c.log.Error("restored session too large for the hub, dropped", "nsp", a.name, "sid", s.SID, "bytes", len(b))
		return []byte{0}
	}
	return b
}

// restoreHeader is the size of a HubResponse frame without its payload.
const restoreHeader = 1 + 4 + 8 + 1

func le32(b []byte, n int) []byte {
	return append(b, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
}

// decodeSession decodes answerRestore's payload; (nil, nil) when not found.
func decodeSession(p []byte) (*socketio.Session, error) {
	r := hub.NewPayloadReader(p)
	switch found := r.U8(); found {
	case 0:
		return nil, r.End()
	case 1:
	default:
		r.Fail(fmt.Sprintf("unknown restore answer %d", found))
		return nil, r.End()
	}
	s := &socketio.Session{SID: r.Str(), PID: r.Str(), Rooms: r.Strs()}
	if data := r.Bytes(); r.Err() == nil && string(data) != "null" {
		if !json.Valid(data) {
			r.Fail("session data is not JSON")
		}
		s.Data = json.RawMessage(data)
	}
	n := r.Count()
	for i := 0; i < n && r.Err() == nil; i++ {
		if p := r.Packet(); p != nil {
			s.MissedPackets = append(s.MissedPackets, p)
		}
	}
	if err := r.End(); err != nil {
		return nil, err
	}
	if s.SID == "" || s.PID == "" {
		return nil, fmt.Errorf("%w: restored session without sid or pid", ErrMalformed)
	}
	return s, nil
}

// lastOffset returns the offset a recovery-enabled broadcast carries as
// its last argument.
func lastOffset(p *socketio.Packet) (string, bool) {
	args, err := p.Args()
	if err != nil || len(args) == 0 {
		return "", false
	}
	var o string
	if json.Unmarshal(args[len(args)-1], &o) != nil {
		return "", false
	}
	return o, true
}
