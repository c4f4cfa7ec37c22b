package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ConnectError is returned by a middleware to refuse a connection with a
// message and optional data: the client gets CONNECT_ERROR
// {"message":Message,"data":Data} (its connect_error event's err.message
// and err.data). Any other error gives {"message":err.Error()}.
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return e.Message }

func connectErrorData(err error) json.RawMessage {
	var ce *ConnectError
	msg := err.Error()
	var data any
	if errors.As(err, &ce) {
		msg, data = ce.Message, ce.Data
	}
	b := []byte(`{"message":`)
	j, _ := marshalJSON(msg)
	b = append(b, j...)
	if data != nil {
		if j, err := marshalJSON(data); err == nil {
			b = append(b, `,"data":`...)
			b = append(b, j...)
		}
	}
	return append(b, '}')
}

// Namespace is a communication channel multiplexed on client connections
// (Node's io.of(name)). Safe for concurrent use.
type Namespace struct {
	name    string
	srv     *Server
	parent  *ParentNamespace
	adapter Adapter
	ackIDs  atomic.Uint64
	sse     taskQueue // server-side emit handlers run here, serially

	mu          sync.RWMutex
	sockets     map[string]*Socket
	middlewares []func(*Socket) error
	onConn      []func(*Socket)
	sseHandlers map[string][]handler
}

func newNamespace(srv *Server, name string, parent *ParentNamespace) *Namespace {
	n := &Namespace{name: name, srv: srv, parent: parent, sockets: map[string]*Socket{}, sseHandlers: map[string][]handler{}}
	n.sse.log = srv.log
	n.sse.wg = &srv.tasks
	if srv.opts.Adapter != nil {
		n.adapter = srv.opts.Adapter(n)
	} else {
		n.adapter = NewInMemoryAdapter(n)
	}
	if err := n.adapter.Init(); err != nil {
		srv.log.Error("adapter init failed", "nsp", name, "error", err)
	}
	return n
}

// Name is the namespace name ("/" for the main namespace).
func (n *Namespace) Name() string { return n.name }

// Server is the namespace's server.
func (n *Namespace) Server() *Server { return n.srv }

// Adapter is the namespace's adapter.
func (n *Namespace) Adapter() Adapter { return n.adapter }

// RecoveryOptions reports the server's connection state recovery options
// (nil when disabled); adapters use it.
func (n *Namespace) RecoveryOptions() *RecoveryOptions { return n.srv.opts.ConnectionStateRecovery }

// nextAckID returns a fresh ack id; one counter per namespace serves
// socket emits and broadcasts, so ids never collide on a socket.
func (n *Namespace) nextAckID() uint64 { return n.ackIDs.Add(1) - 1 }

// Use adds a middleware, run for every connecting socket in registration
// order on the socket's handler goroutine. A non-nil error refuses the
// connection (see ConnectError).
func (n *Namespace) Use(fn func(*Socket) error) {
	n.mu.Lock()
	n.middlewares = append(n.middlewares, fn)
	n.mu.Unlock()
}

// OnConnection adds a handler called for every socket that connects, on the
// socket's handler goroutine, before any of its events.
func (n *Namespace) OnConnection(fn func(*Socket)) {
	n.mu.Lock()
	n.onConn = append(n.onConn, fn)
	n.mu.Unlock()
}

// OnServerSideEmit registers a handler for event sent by other servers with
// ServerSideEmit (Node's nsp.on(event, cb)). Accepted handler forms are
// Socket.On's; the ack, when present, answers the emitting server.
func (n *Namespace) OnServerSideEmit(event string, handler any) error {
	h, err := n.srv.sigs.newHandler(handler)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.sseHandlers[event] = append(n.sseHandlers[event], h)
	n.mu.Unlock()
	return nil
}

// DispatchServerSideEmit delivers a server-side emit received from another
// server (args[0] is the event name) to this namespace's handlers, on the
// namespace's handler goroutine, and returns at once. ack, when non-nil,
// receives the arguments of each handler's ack call. Adapters call it.
func (n *Namespace) DispatchServerSideEmit(args []json.RawMessage, ack func([]json.RawMessage)) {
	if len(args) == 0 {
		return
	}
	event, err := eventName(args[0])
	if err != nil {
		return
	}
	n.mu.RLock()
	hs := append([]handler(nil), n.sseHandlers[event]...)
	if n.parent != nil {
		hs = append(hs, n.parent.serverSideHandlers(event)...)
	}
	n.mu.RUnlock()
	var af AckFunc
	if ack != nil {
		af = func(a ...any) error {
			out := make([]json.RawMessage, len(a))
			for i, v := range a {
				j, err := marshalJSON(v)
				if err != nil {
					return fmt.Errorf("%w: %v", ErrBadArgument, err)
				}
				out[i] = j
			}
			ack(out)
			return nil
		}
	}
	rest := args[1:]
	n.sse.push(func() {
		for _, h := range hs {
			if err := h.call(rest, Args{JSON: rest}, af); err != nil {
				n.srv.log.Warn("server-side emit handler failed", "nsp", n.name, "event", event, "error", err)
			}
		}
	})
}

func (n *Namespace) runMiddlewares(s *Socket) error {
	n.mu.RLock()
	mws := append([]func(*Socket) error(nil), n.middlewares...)
	n.mu.RUnlock()
	if n.parent != nil {
		mws = append(n.parent.middlewaresCopy(), mws...)
	}
	for _, fn := range mws {
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

func (n *Namespace) runConnectionHandlers(s *Socket) {
	n.mu.RLock()
	hs := slices.Clone(n.onConn)
	n.mu.RUnlock()
	if n.parent != nil {
		hs = append(n.parent.connectionHandlers(), hs...)
	}
	for _, fn := range hs {
		fn(s)
	}
}

func (n *Namespace) addSocket(s *Socket) {
	n.mu.Lock()
	n.sockets[s.id] = s
	n.mu.Unlock()
}

func (n *Namespace) removeSocket(s *Socket) {
	n.mu.Lock()
	if n.sockets[s.id] == s {
		delete(n.sockets, s.id)
	}
	n.mu.Unlock()
}

// socket returns the local connected socket id, or nil.
func (n *Namespace) socket(id string) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

// socketsOf returns the sockets of ids that exist, in order, under one
// lock.
func (n *Namespace) socketsOf(ids []string) []*Socket {
	out := make([]*Socket, 0, len(ids))
	n.mu.RLock()
	for _, id := range ids {
		if s := n.sockets[id]; s != nil {
			out = append(out, s)
		}
	}
	n.mu.RUnlock()
	return out
}

// Socket returns the local socket id, or nil.
func (n *Namespace) Socket(id string) *Socket { return n.socket(id) }

// Sockets returns the local sockets of the namespace.
func (n *Namespace) Sockets() []*Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]*Socket, 0, len(n.sockets))
	for _, s := range n.sockets {
		out = append(out, s)
	}
	return out
}

// To targets the sockets in rooms.
func (n *Namespace) To(rooms ...string) *BroadcastOperator {
	return newBroadcastOperator(n).To(rooms...)
}

// In is To.
func (n *Namespace) In(rooms ...string) *BroadcastOperator { return n.To(rooms...) }

// Except excludes the sockets in rooms.
func (n *Namespace) Except(rooms ...string) *BroadcastOperator {
	return newBroadcastOperator(n).Except(rooms...)
}

// Volatile marks the broadcast volatile.
func (n *Namespace) Volatile() *BroadcastOperator { return newBroadcastOperator(n).Volatile() }

// Local restricts the operation to this server.
func (n *Namespace) Local() *BroadcastOperator { return newBroadcastOperator(n).Local() }

// Compress sets the compress flag.
func (n *Namespace) Compress(c bool) *BroadcastOperator { return newBroadcastOperator(n).Compress(c) }

// Timeout bounds EmitWithAck and FetchSockets.
func (n *Namespace) Timeout(d time.Duration) *BroadcastOperator {
	return newBroadcastOperator(n).Timeout(d)
}

// Emit broadcasts event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error {
	return newBroadcastOperator(n).Emit(event, args...)
}

// EmitWithAck broadcasts event and collects one answer per socket.
func (n *Namespace) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	return newBroadcastOperator(n).EmitWithAck(ctx, event, args...)
}

// FetchSockets describes every socket of the namespace, cluster-wide.
func (n *Namespace) FetchSockets(ctx context.Context) ([]*RemoteSocket, error) {
	return newBroadcastOperator(n).FetchSockets(ctx)
}

// SocketsJoin makes every socket of the namespace join rooms.
func (n *Namespace) SocketsJoin(rooms ...string) { newBroadcastOperator(n).SocketsJoin(rooms...) }

// SocketsLeave makes every socket of the namespace leave rooms.
func (n *Namespace) SocketsLeave(rooms ...string) { newBroadcastOperator(n).SocketsLeave(rooms...) }

// DisconnectSockets disconnects every socket of the namespace.
func (n *Namespace) DisconnectSockets(close bool) { newBroadcastOperator(n).DisconnectSockets(close) }

// ServerSideEmit sends event to this namespace on every other server.
func (n *Namespace) ServerSideEmit(event string, args ...any) error {
	a, err := serverSideArgs(event, args)
	if err != nil {
		return err
	}
	_, err = n.adapter.ServerSideEmit(context.Background(), a, false)
	return err
}

// ServerSideEmitWithAck sends event to every other server and returns
// their answers (one per server) when all arrived; when ctx is done first,
// what arrived and an error wrapping ErrTimeout.
func (n *Namespace) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	a, err := serverSideArgs(event, args)
	if err != nil {
		return nil, err
	}
	return n.adapter.ServerSideEmit(ctx, a, true)
}

func serverSideArgs(event string, args []any) ([]json.RawMessage, error) {
	if reservedEvents[event] {
		return nil, fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	out := make([]json.RawMessage, 0, len(args)+1)
	j, _ := marshalJSON(event)
	out = append(out, j)
	for i, a := range args {
		j, err := marshalJSON(a)
		if err != nil {
			return nil, fmt.Errorf("%w: argument %d: %v", ErrBadArgument, i, err)
		}
		out = append(out, j)
	}
	return out, nil
}

// ServerCount reports the number of servers in the cluster.
func (n *Namespace) ServerCount(ctx context.Context) (int, error) { return n.adapter.ServerCount(ctx) }
