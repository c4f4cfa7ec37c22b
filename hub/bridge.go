package hub

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/redisadapter"
	"github.com/stickyd/stickyd/redisproto"
)

// BridgeInstance is the instance id of a Redis bridge in the member set.
const BridgeInstance uint32 = 1<<32 - 1

// remoteInstanceBase is the first of the ids that stand for the servers of
// other hosts in HubMembers (never a target, never a link): workers count
// them in ServerCount.
const remoteInstanceBase uint32 = 0xF0000000

// fleetRefresh is how often the bridge polls PUBSUB NUMSUB for the number
// of servers in the rest of the fleet.
const fleetRefresh = time.Second

// fleetState is the Server's view of its Redis bridge; guarded by
// Server.mu.
type fleetState struct {
	bridge uint32        // BridgeInstance while a bridge is attached, else 0
	remote int           // servers of the other hosts
	kick   chan struct{} // cap 1: wakes the bridge's reconciler; nil without a bridge
}

// withRemote appends one id per remote server to the live instances ids.
func (f *fleetState) withRemote(ids []uint32) []uint32 {
	if f.bridge == 0 || f.remote == 0 {
		return ids
	}
	out := slices.Grow(slices.Clone(ids), f.remote)
	for i := range f.remote {
		out = append(out, remoteInstanceBase+uint32(i))
	}
	slices.Sort(out)
	return out
}

// notify wakes the bridge's reconciler (members or namespaces changed);
// never blocks.
func (f *fleetState) notify() {
	if f.kick != nil {
		select {
		case f.kick <- struct{}{}:
		default:
		}
	}
}

// BridgeOptions configure a RedisBridge.
type BridgeOptions struct {
	// Logger receives the bridge's events; default hclog.NewNullLogger().
	Logger hclog.Logger
	// RequestTimeout bounds what the bridge waits for on behalf of a
	// request (answers from Redis, answers of local workers); default
	// redisadapter.DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// RedisBridge makes a Server one host of a Redis fleet
// (@socket.io/redis-adapter 8.x classic wire format): it is a member of
// the hub (BridgeInstance) that receives every broadcast and request of
// the workers and publishes it once, and it injects what other hosts
// publish as the bridge's own broadcasts and requests, which the hub
// routes to the workers with members only. A host with W live workers is
// W servers of the fleet (Peer.SetRequestWeight). See docs/architecture.md,
// "Fleet (Redis)".
//
// # Concurrency
//
// Safe for concurrent use. It runs the hub link of the bridge (a Unix
// socket pair served by Server.Serve on one goroutine, read by a Client on
// another), one reconciler goroutine (namespaces to subscribe, the
// request weight, NUMSUB polling, reattaching a cut link), and one short
// goroutine per worker request that goes to Redis (PUBSUB NUMSUB, then
// publish); all are started under mu while running and end by Close.
// Redis messages are handled on the Peer's subscriber goroutine.
type RedisBridge struct {
	h       *Server
	peer    *redisadapter.Peer
	log     hclog.Logger
	timeout time.Duration
	kick    chan struct{}
	stop    chan struct{}
	wg      sync.WaitGroup

	mu         sync.Mutex
	running    bool
	link       *Client
	namespaces map[string]*bridgeNsp
	pending    map[string]*fleetRequest // by Redis requestId
	nextID     uint64
}

// NewRedisBridge attaches a bridge to h, relaying through peer (which the
// caller owns and closes after the bridge). It fails when h already has a
// bridge or is closed.
func NewRedisBridge(h *Server, peer *redisadapter.Peer, opts BridgeOptions) (*RedisBridge, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = redisadapter.DefaultRequestTimeout
	}
	b := &RedisBridge{
		h: h, peer: peer, log: opts.Logger, timeout: opts.RequestTimeout,
		kick: make(chan struct{}, 1), stop: make(chan struct{}),
		running: true, namespaces: map[string]*bridgeNsp{}, pending: map[string]*fleetRequest{},
	}
	h.mu.Lock()
	if h.closed || h.fleet.bridge != 0 {
		h.mu.Unlock()
		return nil, fmt.Errorf("%w: hub closed or bridged already", ErrBridge)
	}
	h.fleet = fleetState{bridge: BridgeInstance, kick: b.kick}
	h.mu.Unlock()
	if err := b.attach(); err != nil {
		b.detachServer()
		return nil, err
	}
	b.startGoroutine(b.reconcileLoop)
	b.kick <- struct{}{}
	return b, nil
}

// startGoroutine runs fn on a goroutine Close waits for, unless closed.
func (b *RedisBridge) startGoroutine(fn func()) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.running {
		return false
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn()
	}()
	return true
}

// attach opens the bridge's hub link: a socket pair whose one end the
// Server serves as BridgeInstance and whose other end a Client reads.
func (b *RedisBridge) attach() error {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%w: socketpair: %w", ErrBridge, err)
	}
	hubEnd, err := fileConn(fds[0], "hub-bridge")
	if err != nil {
		syscall.Close(fds[1])
		return err
	}
	bridgeEnd, err := fileConn(fds[1], "bridge-hub")
	if err != nil {
		hubEnd.Close()
		return err
	}
	link := NewClient(ipc.NewFrameConn(bridgeEnd, 0), ClientOptions{
		Logger:  b.log,
		Deliver: b.fromWorker,
		OnLinkLost: func(err error) {
			b.log.Warn("bridge hub link lost; reattaching", "error", err)
			select {
			case b.kick <- struct{}{}:
			default:
			}
		},
	})
	served := ipc.NewFrameConn(hubEnd, 0)
	if !b.startGoroutine(func() { b.h.Serve(BridgeInstance, served) }) {
		served.Close()
		link.Close()
		return fmt.Errorf("%w: closed", ErrBridge)
	}
	if err := link.Join(time.Second); err != nil {
		served.Close()
		return fmt.Errorf("%w: join: %w", ErrBridge, err)
	}
	b.mu.Lock()
	running := b.running
	if running {
		b.link = link
	}
	b.mu.Unlock()
	if !running { // Close ran meanwhile: it may have missed this link
		link.Close()
		served.Close()
		return fmt.Errorf("%w: closed", ErrBridge)
	}
	return nil
}

// fileConn makes a net.Conn of fd (closing fd on error).
func fileConn(fd int, name string) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBridge, err)
	}
	return c, nil
}

// Close detaches the bridge from the hub and ends its goroutines and
// pending requests. The Peer is the caller's to close afterwards.
// Idempotent.
func (b *RedisBridge) Close() error {
	b.mu.Lock()
	if !b.running {
		b.mu.Unlock()
		return nil
	}
	b.running = false
	link := b.link
	b.mu.Unlock()
	close(b.stop)
	if link != nil {
		link.Close()
	}
	b.h.WorkerGone(BridgeInstance)
	b.wg.Wait()
	b.mu.Lock()
	pending, namespaces := b.pending, b.namespaces
	b.pending, b.namespaces = map[string]*fleetRequest{}, map[string]*bridgeNsp{}
	b.mu.Unlock()
	for _, r := range pending {
		r.end()
	}
	for name, ns := range namespaces {
		b.peer.Unsubscribe(name, ns)
	}
	b.detachServer()
	return nil
}

// detachServer forgets the bridge in the Server and tells the workers the
// member set without the remote servers.
func (b *RedisBridge) detachServer() {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	b.h.fleet = fleetState{}
	if !b.h.closed {
		b.h.sendMembersLocked()
	}
}

// currentLink is the bridge's hub link (nil while reattaching).
func (b *RedisBridge) currentLink() *Client {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.link
}

// reconcileLoop keeps the bridge in step with the hub: a subscription for
// each namespace some worker serves, a request weight equal to the live
// workers, the remote server count (polled), and a hub link.
func (b *RedisBridge) reconcileLoop() {
	tick := time.NewTicker(fleetRefresh)
	defer tick.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-b.kick:
		case <-tick.C:
			b.refreshRemote()
		}
		b.reconcile()
	}
}

func (b *RedisBridge) reconcile() {
	if link := b.currentLink(); link != nil {
		select {
		case <-link.Done():
			b.mu.Lock()
			b.link = nil
			b.mu.Unlock()
			b.h.WorkerGone(BridgeInstance)
			if err := b.attach(); err != nil {
				b.log.Error("bridge hub link not reattached; retrying", "error", err)
			}
		default:
		}
	} else if err := b.attach(); err != nil {
		b.log.Error("bridge hub link not reattached; retrying", "error", err)
	}
	workers, names := b.h.bridgeView()
	b.peer.SetRequestWeight(workers)
	for _, name := range names {
		b.mu.Lock()
		_, ok := b.namespaces[name]
		ns := &bridgeNsp{b: b, name: name, ch: redisproto.NewChannels(b.peerPrefix(), name)}
		if !ok && b.running {
			b.namespaces[name] = ns
		}
		b.mu.Unlock()
		if !ok {
			if err := b.peer.Subscribe(name, ns); err != nil {
				b.log.Error("namespace not subscribed on redis", "nsp", name, "error", err)
			}
		}
	}
}

// refreshRemote polls PUBSUB NUMSUB of "/"'s request channel: the servers
// of the fleet minus this host's weight are the remote ones.
func (b *RedisBridge) refreshRemote() {
	ctx, cancel := context.WithTimeout(context.Background(), fleetRefresh)
	defer cancel()
	n, err := b.peer.NumSub(ctx, redisproto.NewChannels(b.peerPrefix(), "/").Request)
	if err != nil {
		return // keep the last count while Redis is away
	}
	b.h.setRemote(max(n-b.peer.RequestWeight(), 0))
}

func (b *RedisBridge) peerPrefix() string { return b.peer.Prefix() }

// bridgeView returns the number of live workers and the namespaces served.
func (h *Server) bridgeView() (workers int, nsps []string) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for id := range h.members {
		if id != h.fleet.bridge {
			workers++
		}
	}
	for nsp := range h.nsps {
		nsps = append(nsps, nsp)
	}
	slices.Sort(nsps)
	return workers, nsps
}

// setRemote records the remote server count and tells the members when it
// changed.
func (h *Server) setRemote(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fleet.bridge == 0 || h.fleet.remote == n {
		return
	}
	h.fleet.remote = n
	h.sendMembersLocked()
}

// servingWorkers is the number of live workers (the host's weight).
func (h *Server) servingWorkers() int {
	n, _ := h.bridgeView()
	return n
}

// roomHeld reports whether any worker has a member of room in nsp.
func (h *Server) roomHeld(nsp, room string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	idx := h.nsps[nsp]
	return idx != nil && len(idx.rooms[room]) > 0
}
