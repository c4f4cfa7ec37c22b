package socketio

import (
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"time"
)

// recoveryStore keeps, for connection state recovery, the sessions of
// disconnected sockets and the broadcast packets they may have missed.
// Expired entries are dropped lazily on every call (no timer goroutine).
type recoveryStore struct {
	maxAge time.Duration
	prefix string

	mu       sync.Mutex
	seq      uint64
	sessions map[string]*storedSession
	packets  []storedPacket
}

type storedSession struct {
	s              *Session
	disconnectedAt time.Time
}

type storedPacket struct {
	offset    string
	opts      BroadcastOptions
	p         *Packet
	emittedAt time.Time
}

func newRecoveryStore(maxAge time.Duration) *recoveryStore {
	return &recoveryStore{maxAge: maxAge, prefix: newID()[:8], sessions: map[string]*storedSession{}}
}

func (r *recoveryStore) expire(now time.Time) {
	for pid, s := range r.sessions {
		if now.Sub(s.disconnectedAt) > r.maxAge {
			delete(r.sessions, pid)
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
	r.packets = append(r.packets, storedPacket{offset: off, opts: opts, p: p, emittedAt: now})
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
	idx := slices.IndexFunc(r.packets, func(sp storedPacket) bool { return sp.offset == offset })
	if idx < 0 {
		return nil
	}
	s := *st.s
	s.MissedPackets = nil
	for _, sp := range r.packets[idx+1:] {
		if shouldInclude(s.Rooms, sp.opts) {
			s.MissedPackets = append(s.MissedPackets, sp.p)
		}
	}
	return &s
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
