package balance

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
)

// ErrUnknownPolicy is returned by New for a name it does not know.
var ErrUnknownPolicy = errors.New("balance: unknown policy")

// Worker is what a Policy knows about a candidate worker.
type Worker interface {
	// Slot is the worker's slot number 1..N, stable across respawns.
	Slot() int
	// Load is the worker's current load: live sessions plus connections
	// handed off and not yet reported received.
	Load() int64
}

// Policy picks a worker for a new connection.
type Policy interface {
	// Pick returns the index in ws of the chosen worker, or -1 if ws is
	// empty. client is the client's address (the zero Addr if unknown).
	Pick(ws []Worker, client netip.Addr) int
}

// Policy names accepted by New.
const (
	LeastConn  = "least-conn"
	RoundRobin = "round-robin"
	Random     = "random"
	IPHash     = "ip-hash"
)

// Names lists the policy names New accepts, default first.
var Names = []string{LeastConn, RoundRobin, Random, IPHash}

// New returns the policy called name; "" means least-conn. An unknown name
// gives an error wrapping ErrUnknownPolicy.
func New(name string) (Policy, error) {
	switch name {
	case "", LeastConn:
		return &leastConn{}, nil
	case RoundRobin:
		return &roundRobin{}, nil
	case Random:
		return random{}, nil
	case IPHash:
		return ipHash{}, nil
	}
	return nil, fmt.Errorf("%w %q (want one of %v)", ErrUnknownPolicy, name, Names)
}

var (
	_ Policy = (*leastConn)(nil)
	_ Policy = (*roundRobin)(nil)
	_ Policy = random{}
	_ Policy = ipHash{}
)

// leastConn picks the worker with the smallest Load. Ties are broken by a
// rotating start index so that equal workers take turns.
type leastConn struct{ next atomic.Uint64 }

func (p *leastConn) Pick(ws []Worker, _ netip.Addr) int {
	n := len(ws)
	if n == 0 {
		return -1
	}
	start := int(p.next.Add(1) % uint64(n))
	best, bestLoad := -1, int64(0)
	for k := 0; k < n; k++ {
		i := (start + k) % n
		if l := ws[i].Load(); best < 0 || l < bestLoad {
			best, bestLoad = i, l
		}
	}
	return best
}

// roundRobin cycles through the workers in order.
type roundRobin struct{ next atomic.Uint64 }

func (p *roundRobin) Pick(ws []Worker, _ netip.Addr) int {
	if len(ws) == 0 {
		return -1
	}
	return int((p.next.Add(1) - 1) % uint64(len(ws)))
}

// random picks uniformly.
type random struct{}

func (random) Pick(ws []Worker, _ netip.Addr) int {
	if len(ws) == 0 {
		return -1
	}
	return rand.IntN(len(ws))
}

// ipHash picks by rendezvous (highest random weight) hashing of the client
// address and the worker's slot: a client's choice changes only when its
// own slot leaves the set.
type ipHash struct{}

func (ipHash) Pick(ws []Worker, client netip.Addr) int {
	if len(ws) == 0 {
		return -1
	}
	h := hashAddr(client.Unmap())
	best, bestScore := -1, uint64(0)
	for i, w := range ws {
		if s := mix(h ^ mix(uint64(w.Slot())+0x9e3779b97f4a7c15)); best < 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

// hashAddr is FNV-1a over the address bytes.
func hashAddr(a netip.Addr) uint64 {
	b := a.As16()
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// mix is the splitmix64 finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
