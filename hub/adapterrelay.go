package hub

import (
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// AdapterSource is the "source" of every @socket.io/cluster-adapter
// message.
const AdapterSource = "_sio_adapter"

// Message types of @socket.io/cluster-adapter the relay acts on. 0.3.x
// uses socket.io-adapter's ClusterAdapter numbering, 0.2.x its own.
const (
	adapter03FetchSocketsResponse   = 8
	adapter03ServerSideEmitResponse = 10
	adapter03AdapterClose           = 13
	adapter02WorkerExit             = 3
	adapter02FetchSocketsResponse   = 9
	adapter02ServerSideEmitResponse = 11
)

// AdapterPeer is a Node worker as the AdapterRelay writes to it. Both
// methods queue without blocking; an error means the worker is gone or
// cut, and the relay drops the message for it.
type AdapterPeer interface {
	// SendAdapterBody queues body, a message body in the worker's channel
	// mode (all of a relay's workers share one mode).
	SendAdapterBody(body []byte) error
	// SendAdapterValue encodes v (nil, bool, float64, int, string, []any,
	// map[string]any) in the worker's mode and queues it.
	SendAdapterValue(v any) error
}

// AdapterRelay is the @socket.io/cluster-adapter primary of a pool of Node
// workers (setupPrimary, 0.2.x and 0.3.x): every adapter message a worker
// sends goes to every other worker, except the responses to fetchSockets
// and serverSideEmit, which go to their requester only (0.3: the worker
// that announced requesterUid; 0.2: the worker whose cluster.worker.id is
// data.workerId). When a worker leaves, the others are told at once: 0.3
// workers get ADAPTER_CLOSE (type 13) for each namespace uid the gone
// worker announced, 0.2 workers WORKER_EXIT (type 3) with its worker id,
// so their pending requests resolve with the live workers instead of
// timing out. Type 13 is never sent to a 0.2 worker (there it is
// BROADCAST_ACK). A worker's version is learned from its messages (0.3
// messages carry a uid).
//
// # Concurrency
//
// Safe for concurrent use; one mutex guards the peer table and no peer
// method blocks under it.
type AdapterRelay struct {
	log     hclog.Logger
	relayed atomic.Uint64

	mu    sync.Mutex
	peers map[uint32]*adapterPeer
}

type adapterPeer struct {
	instance uint32
	workerID float64 // its cluster.worker.id (NODE_UNIQUE_ID)
	out      AdapterPeer
	uids     map[string]string // 0.3 namespace uid -> namespace
	legacy   bool              // sent a 0.2 message
}

// NewAdapterRelay returns a relay without peers; log may be nil.
func NewAdapterRelay(log hclog.Logger) *AdapterRelay {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &AdapterRelay{log: log, peers: make(map[uint32]*adapterPeer)}
}

// Join adds the worker of instance, whose cluster.worker.id is workerID.
func (r *AdapterRelay) Join(instance uint32, workerID uint32, out AdapterPeer) {
	r.mu.Lock()
	// Node reads NODE_UNIQUE_ID as an int32 (`+id | 0`)
	r.peers[instance] = &adapterPeer{instance: instance, workerID: float64(int32(workerID)), out: out, uids: make(map[string]string)}
	r.mu.Unlock()
}

// Relayed returns how many messages the relay has delivered (one per
// destination).
func (r *AdapterRelay) Relayed() uint64 { return r.relayed.Load() }

// IsAdapterMessage returns v as an object when it is a cluster-adapter
// message (source "_sio_adapter").
func IsAdapterMessage(v any) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok || m["source"] != AdapterSource {
		return nil, false
	}
	return m, true
}

// Relay delivers msg, the decoded adapter message whose body is body, from
// instance's worker to its destinations. A sender that has not joined is
// ignored.
func (r *AdapterRelay) Relay(from uint32, body []byte, msg map[string]any) {
	typ, _ := msg["type"].(float64)
	uid, isV3 := msg["uid"].(string)
	var dests []AdapterPeer
	r.mu.Lock()
	sender := r.peers[from]
	if sender == nil {
		r.mu.Unlock()
		return
	}
	if isV3 {
		nsp, _ := msg["nsp"].(string)
		sender.uids[uid] = nsp
	} else {
		sender.legacy = true
	}
	switch {
	case isV3 && (typ == adapter03FetchSocketsResponse || typ == adapter03ServerSideEmitResponse):
		requester, _ := msg["requesterUid"].(string)
		for _, p := range r.peers {
			if _, ok := p.uids[requester]; ok {
				dests = append(dests, p.out)
				break
			}
		}
	case !isV3 && (typ == adapter02FetchSocketsResponse || typ == adapter02ServerSideEmitResponse):
		data, _ := msg["data"].(map[string]any)
		id, _ := data["workerId"].(float64)
		for _, p := range r.peers {
			if p.workerID == id {
				dests = append(dests, p.out)
				break
			}
		}
	default:
		for _, p := range r.peers {
			if p != sender {
				dests = append(dests, p.out)
			}
		}
	}
	r.mu.Unlock()
	for _, d := range dests {
		if d.SendAdapterBody(body) == nil {
			r.relayed.Add(1)
		}
	}
}

// Leave removes instance's worker and tells the others (see AdapterRelay).
// Leaving twice, or without joining, does nothing.
func (r *AdapterRelay) Leave(instance uint32) {
	type notice struct {
		to  AdapterPeer
		msg map[string]any
	}
	var notices []notice
	r.mu.Lock()
	gone := r.peers[instance]
	delete(r.peers, instance)
	if gone != nil {
		for _, p := range r.peers {
			switch {
			case p.legacy:
				notices = append(notices, notice{p.out, map[string]any{"source": AdapterSource, "type": adapter02WorkerExit, "data": gone.workerID}})
			case len(p.uids) > 0:
				for uid, nsp := range gone.uids {
					notices = append(notices, notice{p.out, map[string]any{"source": AdapterSource, "type": adapter03AdapterClose, "uid": uid, "nsp": nsp}})
				}
			}
		}
	}
	r.mu.Unlock()
	if gone != nil {
		r.log.Debug("cluster-adapter peer left; telling the others", "instance", instance, "notices", len(notices))
	}
	for _, n := range notices {
		if err := n.to.SendAdapterValue(n.msg); err != nil {
			r.log.Debug("cannot tell a peer of a worker's exit", "error", err)
		}
	}
}
