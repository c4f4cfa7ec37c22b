package socketio

import (
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/stickyd/stickyd/engineio"
)

// connect runs on the socket's queue: namespace lookup, recovery,
// middlewares, then the CONNECT answer and the connection handlers.
func (s *Socket) connect() {
	c := s.client
	srv := c.srv
	nsp := srv.lookupNamespace(s.nspName, s.auth)
	if nsp == nil {
		srv.log.Debug("connect to unknown namespace", "sid", c.conn.ID(), "nsp", s.nspName)
		c.abandon(s)
		_ = c.writePacket(newControlPacket(PacketConnectError, s.nspName, map[string]string{"message": "Invalid namespace"}), 0)
		return
	}
	s.nsp = nsp
	var session *Session
	if srv.opts.ConnectionStateRecovery != nil {
		session = s.restoreSession()
		if session == nil {
			s.pid = newID()
		}
	}
	skip := session != nil && srv.opts.ConnectionStateRecovery.SkipMiddlewares
	if !skip {
		if err := nsp.runMiddlewares(s); err != nil {
			nsp.adapter.DelAll(s.id) // rooms a middleware joined
			c.abandon(s)
			srv.log.Debug("connection refused by middleware", "sid", c.conn.ID(), "nsp", s.nspName, "error", err)
			if c.isClosed() {
				return
			}
			_ = c.writePacket(newControlPacket(PacketConnectError, s.nspName, connectErrorData(err)), 0)
			return
		}
	}
	if !c.attach(s) {
		nsp.adapter.DelAll(s.id)
		return
	}
	// The socket is reachable (listed, in its rooms) before the CONNECT
	// answer goes out, as in Node; what is written to it meanwhile waits
	// behind the gate, so nothing overtakes the answer and the missed
	// packets.
	s.gate.Store(true)
	s.mu.Lock()
	s.state = stateConnected
	s.mu.Unlock()
	nsp.addSocket(s)
	nsp.adapter.AddAll(s.id, []string{s.id})
	if session != nil && len(session.Rooms) > 0 {
		nsp.adapter.AddAll(s.id, session.Rooms)
	}
	// The answer ends its websocket write: what follows it (missed
	// packets, the connection handlers' emits) goes in a later one
	// (engineio.SendAlone).
	_ = c.writePacket(newControlPacket(PacketConnect, s.nspName, connectData(s.id, s.pid)), engineio.SendAlone)
	if session != nil {
		for _, mp := range session.MissedPackets {
			_ = c.writePacket(mp, 0)
		}
	}
	s.openGate()
	srv.log.Trace("socket connected", "sid", c.conn.ID(), "nsp", s.nspName, "id", s.id, "recovered", session != nil)
	nsp.runConnectionHandlers(s)
}

// write queues p for the client (see engineio.Socket.Send for flags);
// while the socket's CONNECT answer is not written yet (the gate is closed)
// a packet waits in order behind it (a volatile one is dropped).
func (s *Socket) write(p *Packet, flags engineio.SendFlags) error {
	if s.gate.Load() {
		s.mu.Lock()
		if s.gate.Load() {
			if flags&engineio.SendVolatile == 0 {
				s.pending = append(s.pending, p)
			}
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
	}
	return s.client.writePacket(p, flags)
}

// openGate writes the packets that waited behind the CONNECT answer, in
// order, then lets later writes through.
func (s *Socket) openGate() {
	for {
		s.mu.Lock()
		ps := s.pending
		s.pending = nil
		if len(ps) == 0 {
			s.gate.Store(false)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		for _, p := range ps {
			_ = s.client.writePacket(p, 0)
		}
	}
}

// connectData encodes {"sid":..,"pid":..} in that key order.
func connectData(sid, pid string) json.RawMessage {
	b := []byte(`{"sid":`)
	j, _ := marshalJSON(sid)
	b = append(b, j...)
	if pid != "" {
		j, _ = marshalJSON(pid)
		b = append(b, `,"pid":`...)
		b = append(b, j...)
	}
	return append(b, '}')
}

// restoreSession asks the adapter for the session named in auth.pid /
// auth.offset and, when found, takes over its id, pid, data.
func (s *Socket) restoreSession() *Session {
	var a struct {
		PID    any `json:"pid"`
		Offset any `json:"offset"`
	}
	if json.Unmarshal(s.auth, &a) != nil {
		return nil
	}
	pid, ok1 := a.PID.(string)
	off, ok2 := a.Offset.(string)
	if !ok1 || !ok2 {
		return nil
	}
	sess, err := s.nsp.adapter.RestoreSession(pid, off)
	if err != nil || sess == nil {
		return nil
	}
	s.SetData(sess.Data)
	s.mu.Lock()
	s.id, s.pid = sess.SID, sess.PID
	s.recovered = true
	s.mu.Unlock()
	return sess
}

// onEvent is called from the read path; the handlers run on the socket's queue.
func (s *Socket) onEvent(p *Packet) {
	args, err := p.Args()
	if err != nil || len(args) == 0 {
		return // the decoder already validated it
	}
	raw := Args{JSON: args[1:], Attachments: p.attachments}
	if len(p.attachments) > 0 {
		raw.JSON = append([]json.RawMessage(nil), args[1:]...)
		for i, a := range args {
			if r, err := resolveArg(a, p.attachments); err == nil {
				args[i] = r
			}
		}
	}
	event := p.event
	if event == "" {
		var err error
		if event, err = eventName(args[0]); err != nil {
			return
		}
	}
	var ack AckFunc
	if id, ok := p.ID(); ok {
		ack = s.newAck(id)
	}
	rest := args[1:]
	if s.client.hot() && s.client.conn.InReaderCallback() && s.q.acquire() {
		// Inline on the websocket reader: no goroutine hand-off. If the
		// handler waits (EmitWithAck) or runs long, the reader moves on
		// without it (client.runInline).
		s.client.runInline(func() {
			s.q.safe(func() { s.dispatch(event, rest, raw, ack) })
			s.q.drain()
		})
		return
	}
	s.pushEvent(func() { s.dispatch(event, rest, raw, ack) })
}

// pushEvent queues f, an event's handlers, within Options.MaxQueuedEvents:
// the caller, the client's reader, waits for room for at most
// Options.EventQueueStall, then disconnects the client
// (ReasonEventQueueFull) and drops f. After that, or once the socket
// closed, events are dropped.
func (s *Socket) pushEvent(f func()) {
	srv := s.client.srv
	switch s.q.pushBounded(f, srv.opts.MaxQueuedEvents, srv.opts.EventQueueStall) {
	case pushedStalled:
		srv.eventQueueStalls.Add(1)
	case pushRefused:
		srv.eventQueueStalls.Add(1)
		srv.eventQueueFull.Add(1)
		srv.log.Warn("disconnecting client: its handlers made no progress while its events queued",
			"sid", s.client.conn.ID(), "nsp", s.nspName, "queued", srv.opts.MaxQueuedEvents, "stall", srv.opts.EventQueueStall)
		s.client.closeWith(ReasonEventQueueFull)
	}
}

func (s *Socket) newAck(id uint64) AckFunc {
	a := &ackReply{s: s, id: id}
	return a.send
}

// ackReply is the AckFunc of one event: it answers once.
type ackReply struct {
	s    *Socket
	id   uint64
	sent atomic.Bool
}

func (a *ackReply) send(args ...any) error {
	if !a.sent.CompareAndSwap(false, true) {
		return ErrAlreadyAcked
	}
	return a.s.sendAck(a.id, args)
}

// sendAck writes the ACK packet of id with args. Without attachments, and
// past the CONNECT gate, its text goes straight into the one engine.io
// frame it becomes: an ack has one recipient, so it needs neither a Packet
// nor the shared frames cache.
func (s *Socket) sendAck(id uint64, args []any) error {
	head := Packet{typ: PacketAck, nsp: s.nspName, id: int64(id)}
	b := head.appendText(make([]byte, 0, 64))
	list := len(b)
	b, atts, err := appendArgList(b, args)
	if err != nil {
		return err
	}
	if len(atts) > 0 || s.gate.Load() {
		// Attachments, or writes that still wait behind the CONNECT
		// answer: the general path, with the arguments encoded above.
		typ := PacketAck
		if len(atts) > 0 {
			typ = PacketBinaryAck
		}
		return s.send(&Packet{typ: typ, nsp: s.nspName, id: int64(id), data: string(b[list:]), attachments: atts})
	}
	if !s.Connected() {
		return ErrDisconnected
	}
	if _, err := s.client.conn.Send([]*engineio.Frame{engineio.NewTextFrame(b)}, 0); err != nil {
		return fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	return nil
}

func (s *Socket) dispatch(event string, args []json.RawMessage, raw Args, ack AckFunc) {
	s.mu.Lock()
	if s.state != stateConnected {
		s.mu.Unlock()
		return
	}
	anys := s.anyHandlers
	hs := s.handlers // append-only: the first len(hs) entries never change
	s.mu.Unlock()
	for _, fn := range anys {
		fn(event, args)
	}
	for _, eh := range hs {
		if eh.event != event {
			continue
		}
		if err := eh.h.call(args, raw, ack); err != nil {
			s.client.srv.log.Warn("event handler failed", "nsp", s.nspName, "id", s.id, "event", event, "error", err)
		}
	}
}

// onAck resolves a pending ack (read path; no handler code runs here
// except broadcast collectors).
func (s *Socket) onAck(p *Packet) {
	id, _ := p.ID()
	s.mu.Lock()
	fn := s.acks[id]
	delete(s.acks, id)
	s.mu.Unlock()
	if fn == nil {
		return
	}
	args, _ := p.Args()
	if len(p.attachments) > 0 {
		for i, a := range args {
			if r, err := resolveArg(a, p.attachments); err == nil {
				args[i] = r
			}
		}
	}
	fn(args, nil)
}

// recoverableReasons may be recovered with connection state recovery.
var recoverableReasons = map[string]bool{
	"transport error":      true,
	"transport close":      true,
	"forced close":         true,
	"ping timeout":         true,
	"server shutting down": true,
	"forced server close":  true,
}

// failAcks fails every pending ack with ErrDisconnected.
func (s *Socket) failAcks() {
	s.mu.Lock()
	acks := s.acks
	s.acks = nil
	s.mu.Unlock()
	for _, fn := range acks {
		fn(nil, ErrDisconnected)
	}
}

// onClose marks the socket closed at once (pending acks fail with
// ErrDisconnected, Emit stops) and queues the disconnecting handlers, the
// cleanup and the disconnect handlers after the events already queued.
func (s *Socket) onClose(reason string) {
	s.mu.Lock()
	if s.state != stateConnected {
		s.mu.Unlock()
		return
	}
	s.state = stateClosed
	acks := s.acks
	s.acks = nil
	s.mu.Unlock()
	s.q.closeBounded() // a reader waiting for room drops its event
	s.client.remove(s)
	for _, fn := range acks {
		fn(nil, ErrDisconnected)
	}
	s.q.push(func() {
		s.mu.Lock()
		discing := s.onDiscing
		s.mu.Unlock()
		for _, fn := range discing {
			fn(reason)
		}
		rooms := s.nsp.adapter.SocketRooms(s.id)
		var sess *Session
		if rec := s.client.srv.opts.ConnectionStateRecovery; rec != nil && recoverableReasons[reason] {
			sess = &Session{SID: s.id, PID: s.pid, Rooms: rooms, Data: s.Data()}
			if k, ok := s.nsp.adapter.(SessionKeeper); ok {
				k.KeepSession(sess) // before the socket leaves its rooms: no gap
			}
		}
		s.nsp.adapter.DelAll(s.id)
		s.nsp.removeSocket(s)
		// Persist last: once stored, the session may be restored at once
		// by a new socket with the same id.
		if sess != nil {
			s.nsp.adapter.PersistSession(sess)
		}
		s.mu.Lock()
		disc := s.onDisc
		s.mu.Unlock()
		for _, fn := range disc {
			fn(reason)
		}
	})
}
