package socketio

import (
	"encoding/json"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stickyd/stickyd/engineio"
)

// client is one Engine.IO session and the namespace sockets multiplexed on it.
type client struct {
	srv  *Server
	conn *engineio.Socket
	dec  decoder // read path only

	mu         sync.Mutex
	sockets    []*Socket          // connected, one per namespace (a client joins a few)
	connecting map[string]*Socket // in middlewares, by namespace; nil when none
	closed     bool
	reason     string // close reason chosen by us, overrides the engine's
	timer      *time.Timer

	inline    atomic.Pointer[inlineRun] // the inline run on the current reader, if any
	spare     atomic.Pointer[inlineRun] // a finished run whose timer can be re-armed
	lastEvent atomic.Int64              // time of the last event, since clock
}

// hot records an event and reports whether the previous one came within
// hotWindow. Only a busy client's events run inline: a handler deepens the
// stack of the goroutine it runs on, and a reader's stack, grown once,
// stays until a GC shrinks it, which on a mostly idle server may be long;
// an event now and then runs on a handler goroutine that then goes away,
// so an idle connection keeps a small reader.
func (c *client) hot() bool {
	now := int64(time.Since(clock))
	prev := c.lastEvent.Swap(now)
	return prev != 0 && now-prev < int64(hotWindow)
}

// inlineBudget is how long an event handler runs inline on the websocket
// reader before reading moves on to another goroutine without it
// (Server.inlineBudget, which tests shorten or lengthen).
const inlineBudget = 10 * time.Millisecond

// hotWindow: an event that follows the client's previous one within it is
// handled inline on the reader (client.hot).
const hotWindow = time.Second

// clock is the monotonic origin of client.lastEvent.
var clock = time.Now()

// inlineRun is one handler run inline on the websocket reader, with the
// timer that releases the reader from it when it outlasts inlineBudget.
// Every run owns its timer: a run that outlives its reader (released, a
// newer reader running handlers inline) can neither stop nor fire the
// newer run's budget.
type inlineRun struct {
	c     *client
	timer *time.Timer
}

// expire is the run's timer: it releases the reader if the run still owns
// it (the newest inline run of the client). A run released already (say by
// EmitWithAck) whose timer fires while a newer run is on the reader does
// nothing. (A release that races with a newer run starting may cut that
// run's budget short; a budget is never skipped.)
func (r *inlineRun) expire() {
	if r.c.inline.Load() == r {
		r.c.conn.ReleaseReader()
	}
}

// runInline runs f, handlers of a socket of c, on the websocket reader,
// with the reader released if f takes longer than the client's inline
// budget (inlineBudget). After a release the next reader may run handlers
// of another namespace's socket inline while f still runs: each run arms
// a timer of its own, so each gets its budget. A run whose timer did not
// fire leaves it to the next run (c.spare): no allocation per event.
func (c *client) runInline(f func()) {
	r := c.spare.Swap(nil)
	if r == nil {
		r = &inlineRun{c: c}
		r.timer = time.AfterFunc(time.Hour, r.expire)
		r.timer.Stop()
	}
	c.inline.Store(r)
	r.timer.Reset(c.srv.inlineBudget)
	f()
	stopped := r.timer.Stop()
	c.inline.CompareAndSwap(r, nil)
	if stopped {
		c.spare.Store(r) // its expire never runs for this arming
	}
}

func newClient(srv *Server, conn *engineio.Socket) *client {
	c := &client{
		srv:  srv,
		conn: conn,
		dec:  decoder{maxAttachments: srv.opts.MaxAttachments},
	}
	conn.OnMessage(c.onMessage)
	conn.OnClose(func(reason string, _ error) { c.onClose(reason) })
	c.mu.Lock()
	c.timer = time.AfterFunc(srv.opts.ConnectTimeout, c.onConnectTimeout)
	c.mu.Unlock()
	return c
}

func (c *client) onConnectTimeout() {
	c.mu.Lock()
	idle := len(c.sockets) == 0 && !c.closed
	c.mu.Unlock()
	if idle {
		c.srv.log.Debug("no namespace joined before connect timeout", "sid", c.conn.ID())
		c.closeWith("forced server close")
	}
}

// onMessage is called serially by engineio, in arrival order.
func (c *client) onMessage(data []byte, binary bool) {
	p, err := c.dec.add(data, binary)
	if err != nil {
		c.srv.log.Debug("closing client on malformed packet", "sid", c.conn.ID(), "error", err)
		c.closeWith("parse error")
		return
	}
	if p == nil {
		return
	}
	c.onPacket(p)
}

func (c *client) onPacket(p *Packet) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	s := c.socketLocked(p.nsp)
	if p.typ == PacketConnect {
		if s != nil || c.connecting[p.nsp] != nil {
			c.mu.Unlock()
			c.closeWith("forced server close")
			return
		}
		auth := json.RawMessage(`{}`)
		if p.data != "" {
			auth = json.RawMessage(p.data)
		}
		s = newSocket(c, p.nsp, auth)
		if c.connecting == nil {
			c.connecting = map[string]*Socket{}
		}
		c.connecting[p.nsp] = s
		c.mu.Unlock()
		s.q.push(s.connect)
		return
	}
	c.mu.Unlock()
	if s == nil || p.typ == PacketConnectError {
		c.closeWith("forced server close")
		return
	}
	switch p.typ {
	case PacketEvent, PacketBinaryEvent:
		s.onEvent(p)
	case PacketAck, PacketBinaryAck:
		s.onAck(p)
	case PacketDisconnect:
		// Events that arrived before the DISCONNECT are still handled
		// (as in Node); acks the socket waits for can no longer come.
		s.failAcks()
		s.q.push(func() { s.onClose("client namespace disconnect") })
	}
}

// attach moves s from connecting to connected. It fails if the client
// closed meanwhile.
func (c *client) attach(s *Socket) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.connecting[s.nspName] == s {
		delete(c.connecting, s.nspName)
	}
	if c.closed {
		return false
	}
	if len(c.connecting) == 0 {
		c.connecting = nil // an idle connection keeps no empty map
	}
	c.sockets = append(c.sockets, s)
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil // the connect timeout is over for good
	}
	return true
}

// abandon forgets s after a failed connection attempt.
func (c *client) abandon(s *Socket) {
	c.mu.Lock()
	if c.connecting[s.nspName] == s {
		delete(c.connecting, s.nspName)
	}
	c.mu.Unlock()
}

// socketLocked returns the connected socket of namespace nsp, or nil.
// c.mu is held.
func (c *client) socketLocked(nsp string) *Socket {
	for _, s := range c.sockets {
		if s.nspName == nsp {
			return s
		}
	}
	return nil
}

// remove forgets a socket that disconnected.
func (c *client) remove(s *Socket) {
	c.mu.Lock()
	if i := slices.Index(c.sockets, s); i >= 0 {
		c.sockets = slices.Delete(c.sockets, i, i+1)
	}
	c.mu.Unlock()
}

func (c *client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// writePacket queues p's frames (flags: see engineio.Socket.Send); a
// volatile packet with attachments is always queued.
func (c *client) writePacket(p *Packet, flags engineio.SendFlags) error {
	fs := p.frames()
	if len(fs) > 1 {
		flags &^= engineio.SendVolatile
	}
	_, err := c.conn.Send(fs, flags)
	return err
}

// closeWith closes the connection, recording reason as the disconnect
// reason of every socket on it.
func (c *client) closeWith(reason string) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = reason
	}
	c.mu.Unlock()
	_ = c.conn.Close()
	c.onClose(reason)
}

// disconnectAll is Socket.Disconnect(true): every socket gets a DISCONNECT
// packet, then the connection closes ("forced server close").
func (c *client) disconnectAll() {
	c.mu.Lock()
	socks := slices.Clone(c.sockets)
	c.mu.Unlock()
	for _, s := range socks {
		s.Disconnect(false)
	}
	c.closeWith("forced server close")
}

// shuttingDown is Server.Close for this client: sockets close with reason
// "server shutting down" (no DISCONNECT packet: the engine closes).
func (c *client) shuttingDown() {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = "server shutting down"
	}
	c.mu.Unlock()
	c.onClose("server shutting down")
}

// onClose runs once per connection (engine close, or our own close).
func (c *client) onClose(reason string) {
	c.mu.Lock()
	if c.reason != "" {
		reason = c.reason
	}
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	socks := c.sockets
	c.sockets = nil
	c.mu.Unlock()
	for _, s := range socks {
		s.onClose(reason)
	}
}
