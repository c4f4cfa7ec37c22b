package primary

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/stickyd/stickyd/balance"
)

// State is a worker instance's lifecycle state.
type State int

const (
	// Starting: spawned, not yet Ready.
	Starting State = iota
	// Ready: takes new connections (if of the newest generation) and its sids.
	Ready
	// Draining: takes its sids, no new connections.
	Draining
	// Gone: exited or killed; its sids are unknown.
	Gone
)

func (s State) String() string {
	switch s {
	case Starting:
		return "starting"
	case Ready:
		return "ready"
	case Draining:
		return "draining"
	case Gone:
		return "gone"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// instance is one worker process, named by its instance id for the life of
// the primary. Fields after mu-guarded are guarded by Supervisor.routingMu.
type instance struct {
	id      uint32
	slot    int
	gen     uint32
	secret  [32]byte
	started time.Time
	readyCh chan struct{} // closed on the first Ready
	spawned chan struct{} // closed once proc is set (or the spawn failed)
	// metrics is set at spawn, before the instance is routable.
	metrics instanceMetrics

	// guarded by Supervisor.routingMu:
	proc      *process
	state     State
	link      workerLink
	hubLinked bool
	// drainSent: Drain was sent, so the worker may close its link and exit.
	drainSent bool
	// drainQueued: an old-generation drainer (reload.go) watches it.
	drainQueued bool
	// forceDrain: drain it now, too many generations are running.
	forceDrain bool
	sessions   int64
	conns      int64
	sent       uint64 // Conn messages sent
	received   uint64 // Received from the latest Load
	// nodeSIDs are a Node worker's sessions (nodesids.go).
	nodeSIDs map[string]struct{}
}

var _ balance.Worker = (*instance)(nil)

// Slot implements balance.Worker.
func (in *instance) Slot() int { return in.slot }

// Load implements balance.Worker: live sessions plus hand-offs in flight.
// Call with Supervisor.routingMu held.
func (in *instance) Load() int64 {
	inflight := int64(in.sent - in.received)
	if in.received > in.sent {
		inflight = 0
	}
	return in.sessions + inflight
}

func newInstance(id uint32, slot int, gen uint32) (*instance, error) {
	in := &instance{id: id, slot: slot, gen: gen, readyCh: make(chan struct{}), spawned: make(chan struct{}), started: time.Now()}
	if _, err := rand.Read(in.secret[:]); err != nil {
		return nil, fmt.Errorf("primary: secret: %w", err)
	}
	return in, nil
}

// env returns the STICKYD_* variables for this instance.
func (in *instance) env(ctlPath, hubPath string, workers int) []string {
	return []string{
		"STICKYD_SOCKET=" + ctlPath,
		"STICKYD_HUB_SOCKET=" + hubPath,
		"STICKYD_INSTANCE=" + strconv.FormatUint(uint64(in.id), 10),
		"STICKYD_WORKER_ID=" + strconv.Itoa(in.slot),
		"STICKYD_GENERATION=" + strconv.FormatUint(uint64(in.gen), 10),
		"STICKYD_SECRET=" + hex.EncodeToString(in.secret[:]),
		"STICKYD_WORKERS=" + strconv.Itoa(workers),
	}
}
