package socketio

import (
	"encoding/json"
	"slices"
	"sync"
)

// ParentNamespace groups the dynamic namespaces created for names its
// matcher accepts (Node's parent namespace). Its middlewares and connection
// handlers apply to every child (before the child's own); Emit and the
// other broadcast methods act on every child. Safe for concurrent use.
type ParentNamespace struct {
	srv   *Server
	match func(name string, auth json.RawMessage) bool

	mu          sync.RWMutex
	children    []*Namespace
	middlewares []func(*Socket) error
	onConn      []func(*Socket)
	sseHandlers map[string][]handler
}

func newParentNamespace(srv *Server, match func(string, json.RawMessage) bool) *ParentNamespace {
	return &ParentNamespace{srv: srv, match: match, sseHandlers: map[string][]handler{}}
}

func (p *ParentNamespace) addChild(n *Namespace) {
	p.mu.Lock()
	p.children = append(p.children, n)
	p.mu.Unlock()
}

// Children returns the namespaces created so far.
func (p *ParentNamespace) Children() []*Namespace {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return append([]*Namespace(nil), p.children...)
}

// Use adds a middleware run for sockets connecting to any child.
func (p *ParentNamespace) Use(fn func(*Socket) error) {
	p.mu.Lock()
	p.middlewares = append(p.middlewares, fn)
	p.mu.Unlock()
}

// OnConnection adds a connection handler for every child.
func (p *ParentNamespace) OnConnection(fn func(*Socket)) {
	p.mu.Lock()
	p.onConn = append(p.onConn, fn)
	p.mu.Unlock()
}

// OnServerSideEmit registers a server-side emit handler for every child.
func (p *ParentNamespace) OnServerSideEmit(event string, handler any) error {
	h, err := p.srv.sigs.newHandler(handler)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.sseHandlers[event] = append(p.sseHandlers[event], h)
	p.mu.Unlock()
	return nil
}

// Emit broadcasts event to every socket of every child.
func (p *ParentNamespace) Emit(event string, args ...any) error {
	for _, n := range p.Children() {
		if err := n.Emit(event, args...); err != nil {
			return err
		}
	}
	return nil
}

func (p *ParentNamespace) middlewaresCopy() []func(*Socket) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return append([]func(*Socket) error(nil), p.middlewares...)
}

func (p *ParentNamespace) connectionHandlers() []func(*Socket) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Clone(p.onConn)
}

func (p *ParentNamespace) serverSideHandlers(event string) []handler {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return append([]handler(nil), p.sseHandlers[event]...)
}
