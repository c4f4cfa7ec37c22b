package adapter

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/hub"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/socketio"
	"github.com/stickyd/stickyd/worker"
)

// DefaultRequestTimeout bounds cluster requests (FetchSockets,
// ServerSideEmit with acks, the acks of a broadcast, room listings) when
// neither the caller's context nor the operation's Timeout does.
const DefaultRequestTimeout = 5 * time.Second

// Options configure a Cluster.
type Options struct {
	// Logger receives link events and bad input; default hclog.NewNullLogger().
	Logger hclog.Logger
	// RequestTimeout is the default bound of a request (DefaultRequestTimeout).
	RequestTimeout time.Duration
	// JoinTimeout bounds the wait for the hub's first answer in New and
	// NewCluster (default 5 s).
	JoinTimeout time.Duration
	// OnLinkLost is called once, on the link's reader goroutine, when the
	// hub link ends for another reason than Close. The Cluster then serves
	// this process alone (ServerCount 1, requests resolve at once). nil
	// means: log the error; New (a worker under stickyd) sets it to exit
	// the process with status 1 so that the primary restarts it in a
	// consistent state.
	OnLinkLost func(err error)
}

// Cluster is one worker's hub link, shared by the adapters of all its
// namespaces. Plug it into a Socket.IO server with
//
//	io := socketio.NewServer(socketio.Options{Adapter: cluster.Adapter})
//
// A Cluster created for a worker that does not run under stickyd has no
// link: its Adapter method returns socketio.NewInMemoryAdapter.
//
// The link's protocol (member set, requests and their answers, sync
// barriers) is a hub.Client's; the Cluster maps what other workers send to
// the adapter of its namespace. One goroutine reads the link and applies
// what other workers send, in the order each of them sent it. All methods
// are safe for concurrent use.
type Cluster struct {
	link *hub.Client // nil: standalone
	log  hclog.Logger
	opts Options

	mu       sync.Mutex
	adapters map[string]*Adapter

	applying atomic.Bool // the reader is applying another worker's operation

	standalone chan struct{} // closed; Done's channel without a link
}

// New joins the cluster of the stickyd worker l: it dials the primary's hub
// with l.DialHub and waits until the hub has registered this instance, so
// call it before l.Ready. Outside stickyd (l.Managed() false) it returns a
// standalone Cluster. Unless opts.OnLinkLost is set, losing the hub link
// later exits the process with status 1 (the primary restarts it), except
// while the worker drains (l.Draining closed), when it is only logged.
func New(l *worker.Listener, opts Options) (*Cluster, error) {
	if !l.Managed() {
		standalone := make(chan struct{})
		close(standalone)
		return &Cluster{log: orNull(opts.Logger), opts: opts, standalone: standalone}, nil
	}
	if opts.OnLinkLost == nil {
		log := orNull(opts.Logger)
		opts.OnLinkLost = func(err error) {
			select {
			case <-l.Draining():
				log.Info("hub link closed while draining", "error", err)
				return
			default:
			}
			log.Error("hub link lost, exiting so that the primary restarts this worker", "error", err)
			os.Exit(1)
		}
	}
	fc, err := l.DialHub()
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	return NewCluster(fc, opts)
}

// NewCluster runs a Cluster over fc, a hub link whose Hello frame has been
// sent, and waits for the hub's first HubMembers frame. It owns fc from
// then on (on error too).
func NewCluster(fc *ipc.FrameConn, opts Options) (*Cluster, error) {
	opts.Logger = orNull(opts.Logger)
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.JoinTimeout <= 0 {
		opts.JoinTimeout = 5 * time.Second
	}
	c := &Cluster{
		log:      opts.Logger,
		opts:     opts,
		adapters: make(map[string]*Adapter),
	}
	c.link = hub.NewClient(fc, hub.ClientOptions{Logger: opts.Logger, Deliver: c.deliver, OnLinkLost: opts.OnLinkLost})
	if err := c.link.Join(opts.JoinTimeout); err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	return c, nil
}

func orNull(l hclog.Logger) hclog.Logger {
	if l == nil {
		return hclog.NewNullLogger()
	}
	return l
}

// Adapter returns the adapter of nsp; it has the signature of
// socketio.Options.Adapter.
func (c *Cluster) Adapter(nsp *socketio.Namespace) socketio.Adapter {
	if c.link == nil {
		return socketio.NewInMemoryAdapter(nsp)
	}
	return newAdapter(c, nsp)
}

// Instance returns this worker's instance id (0 standalone).
func (c *Cluster) Instance() uint32 {
	if c.link == nil {
		return 0
	}
	return c.link.Instance()
}

// Instances returns the live instances of the cluster, ascending, this one
// included (nil standalone).
func (c *Cluster) Instances() []uint32 {
	if c.link == nil {
		return nil
	}
	return c.link.Instances()
}

// Done is closed when the hub link has ended (at once standalone).
func (c *Cluster) Done() <-chan struct{} {
	if c.link == nil {
		return c.standalone
	}
	return c.link.Done()
}

// Close closes the hub link; pending requests resolve with what they have.
// Idempotent.
func (c *Cluster) Close() error {
	if c.link == nil {
		return nil
	}
	return c.link.Close()
}

// deliver applies a broadcast or request of another worker with the
// adapter of its namespace. A request for a namespace this worker does not
// serve is answered empty, so that its requester does not wait.
func (c *Cluster) deliver(m *ipc.HubMessage) {
	c.mu.Lock()
	a := c.adapters[m.Nsp]
	c.mu.Unlock()
	if a == nil {
		c.log.Warn("frame for a namespace this worker does not serve", "nsp", m.Nsp, "type", m.Type, "from", m.Instance)
		if m.Type == ipc.HubRequest { // the requester must not wait for us
			c.link.Respond(m.Instance, m.ReqID, true, nil)
		}
		return
	}
	c.applying.Store(true)
	if m.Type == ipc.HubBroadcast {
		a.onBroadcast(m)
	} else {
		a.onRequest(m)
	}
	c.applying.Store(false)
}

// withTimeout bounds ctx by the default request timeout when it has no
// deadline.
func (c *Cluster) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.opts.RequestTimeout)
}
