package socketio

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// recoveryStore keeps, for connection state recovery, the sessions of
// disconnected sockets and the broadcast packets they may have missed.
// Expired entries are dropped lazily on every call (no timer goroutine; a
// cluster adapter that must know when a session expires arms its own timer
// and calls DropSession).
//
// Offsets are the store's prefix (random, one per store, so per process and
// namespace), "-", and a sequence number. A client restored from another
// server holds that server's offset; AdoptOffset maps it to this store's
// current sequence (an alias, per session), so that the session can be
// restored here later from that offset.
type recoveryStore struct {
	maxAge time.Duration
	prefix string

	mu       sync.Mutex
	seq      uint64
	sessions map[string]*storedSession
	packets  []storedPacket
	aliases  map[string]storedAlias // pid -> offset of another store and position here
}

type storedAlias struct {
	offset  string
	seq     uint64 // packets with a greater seq come after the alias
	adopted time.Time
}

type storedSession struct {
	s              *Session
	disconnectedAt time.Time
}

type storedPacket struct {
	seq       uint64
	offset    string
	opts      BroadcastOptions
	p         *Packet
	emittedAt time.Time
}

func newRecoveryStore(maxAge time.Duration) *recoveryStore {
	return &recoveryStore{maxAge: maxAge, prefix: newID()[:8], sessions: map[string]*storedSession{}, aliases: map[string]storedAlias{}}
}

func (r *recoveryStore) expire(now time.Time) {
	for pid, s := range r.sessions {
		if now.Sub(s.disconnectedAt) > r.maxAge {
			delete(r.sessions, pid)
		}
	}
	for pid, al := range r.aliases {
		if now.Sub(al.adopted) > r.maxAge {
			delete(r.aliases, pid)
		}
	}
	i := 0
	for i < len(r.packets) && now.Sub(r.packets[i].emittedAt) > r.maxAge {
		i++
	}
	if i > 0 {
		r.packets = slices.Delete(r.packets, 0, i)
	}
}

// record appends an offset to a storable packet (EVENT, no ack id, not
// volatile) and stores it; it returns the packet to send.
func (r *recoveryStore) record(p *Packet, opts BroadcastOptions) *Packet {
	if (p.typ != PacketEvent && p.typ != PacketBinaryEvent) || p.id >= 0 || opts.Flags.Volatile {
		return p
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(now)
	r.seq++
	off := r.prefix + "-" + strconv.FormatUint(r.seq, 36)
	j, _ := json.Marshal(off)
	p = p.withAppendedArg(j)
	r.packets = append(r.packets, storedPacket{seq: r.seq, offset: off, opts: opts, p: p, emittedAt: now})
	return p
}

func (r *recoveryStore) persist(s *Session) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(now)
	r.sessions[s.PID] = &storedSession{s: s, disconnectedAt: now}
}

func (r *recoveryStore) restore(pid, offset string) *Session {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(now)
	st := r.sessions[pid]
	if st == nil {
		return nil
	}
	delete(r.sessions, pid)
	al, aliased := r.aliases[pid]
	delete(r.aliases, pid)
	start := slices.IndexFunc(r.packets, func(sp storedPacket) bool { return sp.offset == offset }) + 1
	if start == 0 {
		if !aliased || al.offset != offset {
			return nil
		}
		start, _ = slices.BinarySearchFunc(r.packets, al.seq+1, func(sp storedPacket, seq uint64) int {
			return cmp.Compare(sp.seq, seq)
		})
	}
	s := *st.s
	s.MissedPackets = nil
	for _, sp := range r.packets[start:] {
		if shouldInclude(s.Rooms, sp.opts) {
			s.MissedPackets = append(s.MissedPackets, sp.p)
		}
	}
	return &s
}

// drop forgets session pid; it reports whether the session was stored and
// not expired.
func (r *recoveryStore) drop(pid string) bool {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(now)
	_, ok := r.sessions[pid]
	delete(r.sessions, pid)
	delete(r.aliases, pid)
	return ok
}

// adopt maps offset (another store's), for session pid, to the current end
// of this store.
func (r *recoveryStore) adopt(pid, offset string) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(now)
	if !strings.HasPrefix(offset, r.prefix+"-") {
		r.aliases[pid] = storedAlias{offset: offset, seq: r.seq, adopted: now}
	}
}

// DropSession forgets the persisted session pid without restoring it, and
// reports whether it was stored and not expired. A cluster adapter calls it
// when the session's time is up (it keeps its own timer). No-op without
// connection state recovery.
func (a *InMemoryAdapter) DropSession(pid string) bool {
	if a.rec == nil {
		return false
	}
	return a.rec.drop(pid)
}

// AdoptOffset records that the client of session pid, restored on this
// server from another one, holds offset, an offset of the other server's
// store: a later RestoreSession(pid, offset) here returns the packets
// recorded here after this call (instead of failing for an unknown
// offset). The alias is per session (the last one counts), is used up by
// the session's next restore, and expires like a stored packet. A cluster
// adapter calls it before the restored socket connects. No-op without
// connection state recovery or for an offset of this store.
func (a *InMemoryAdapter) AdoptOffset(pid, offset string) {
	if a.rec != nil && offset != "" {
		a.rec.adopt(pid, offset)
	}
}

// shouldInclude reports whether a socket in rooms was a target of opts.
func shouldInclude(rooms []string, opts BroadcastOptions) bool {
	included := len(opts.Rooms) == 0
	for _, r := range rooms {
		if slices.Contains(opts.Except, r) {
			return false
		}
		if !included && slices.Contains(opts.Rooms, r) {
			included = true
		}
	}
	return included
}
