package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stickyd/stickyd/engineio"
)

// Handshake is what the server knows of a socket's connection, as Node's
// socket.handshake. Socket.Handshake builds it anew on each call.
type Handshake struct {
	// Headers are the handshake request's headers, a copy of the
	// engine's (engineio.Socket.RequestHeader) that the caller owns.
	Headers http.Header `json:"headers"`
	// Time is the connection time formatted as JavaScript's Date.toString.
	Time string `json:"time"`
	// Address is the client's IP address.
	Address string `json:"address"`
	// XDomain is true when the handshake request had an Origin header.
	XDomain bool `json:"xdomain"`
	// Secure is true when this process's http.Server terminated TLS for
	// the handshake (r.TLS set); behind stickyd --tls-cert the primary
	// terminates TLS and relays plaintext, so it is false there.
	Secure bool `json:"secure"`
	// Issued is the connection time in Unix milliseconds.
	Issued int64 `json:"issued"`
	// URL is the request URI of the handshake.
	URL   string     `json:"url"`
	Query url.Values `json:"query"`
	// Auth is the JSON object the client sent with CONNECT ({} when none).
	Auth json.RawMessage `json:"auth"`
}

// handshakeTime formats the connection time as JavaScript's Date.toString.
const handshakeTime = "Mon Jan 02 2006 15:04:05 GMT-0700 (MST)"

// newHandshake describes conn's handshake request (conn may be nil) for a
// socket connected at issued (Unix ms) with auth.
func newHandshake(conn *engineio.Socket, issued int64, auth json.RawMessage) Handshake {
	h := Handshake{
		Time:   time.UnixMilli(issued).Format(handshakeTime),
		Issued: issued,
		Auth:   auth,
	}
	if conn == nil {
		return h
	}
	h.Headers = conn.RequestHeader()
	h.XDomain = h.Headers.Get("Origin") != ""
	h.Secure = conn.TLS() != nil
	h.URL = conn.RequestURI()
	h.Query = conn.Query()
	h.Address = conn.RemoteAddr()
	if host, _, err := net.SplitHostPort(h.Address); err == nil {
		h.Address = host
	}
	return h
}

// newID returns a Node-style id: 15 random bytes, base64url (20 characters).
func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// socket states
const (
	stateConnecting = iota
	stateConnected
	stateClosed
)

// eventHandler is a handler registered with Socket.On for event. A socket
// keeps its handlers in one slice, scanned on each event: sockets register
// a handful, and a slice of them costs a fraction of a map.
type eventHandler struct {
	event string
	h     handler
}

// Socket is a client's connection to one namespace. Its methods are safe
// for concurrent use. Event handlers of one socket run one at a time, in
// arrival order (see the package doc, Concurrency).
type Socket struct {
	id      string
	pid     string
	nspName string
	nsp     *Namespace
	client  *client
	issued  int64           // connection time, Unix ms
	auth    json.RawMessage // CONNECT's auth object
	q       taskQueue

	mu          sync.Mutex
	state       int
	recovered   bool
	pending     []*Packet      // written while the gate is closed (see write)
	handlers    []eventHandler // in registration order; append-only
	anyHandlers []func(event string, args []json.RawMessage)
	onDisc      []func(reason string)
	onDiscing   []func(reason string)
	acks        map[uint64]func(args []json.RawMessage, err error)

	gate atomic.Bool // closed while connecting: writes wait in pending

	dataMu sync.Mutex
	data   any
}

func newSocket(c *client, nspName string, auth json.RawMessage) *Socket {
	s := &Socket{
		id:      newID(),
		nspName: nspName,
		client:  c,
		issued:  time.Now().UnixMilli(),
		auth:    auth,
	}
	s.q.log = c.srv.log
	s.q.wg = &c.srv.tasks
	return s
}

// ID is the socket id (also the name of its own room).
func (s *Socket) ID() string { return s.id }

// Namespace is the namespace the socket belongs to.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Handshake describes the socket's connection. It is built on each call
// from what the engine keeps of the handshake request (headers map, query
// parse: about a microsecond and a kilobyte), so the caller owns it;
// Auth, shared, must not be modified. For the CONNECT auth object alone,
// Auth is cheaper.
func (s *Socket) Handshake() Handshake { return newHandshake(s.client.conn, s.issued, s.auth) }

// Auth returns the JSON object the client sent with CONNECT ({} when
// none), as Handshake().Auth without building the handshake. It must not
// be modified.
func (s *Socket) Auth() json.RawMessage { return s.auth }

// Conn is the underlying Engine.IO session (shared by the client's
// sockets of all namespaces).
func (s *Socket) Conn() *engineio.Socket { return s.client.conn }

// Recovered reports whether the socket's state was restored by connection
// state recovery.
func (s *Socket) Recovered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recovered
}

// Connected reports whether the socket is connected.
func (s *Socket) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == stateConnected
}

// Data returns the value set with SetData (nil by default).
func (s *Socket) Data() any {
	s.dataMu.Lock()
	defer s.dataMu.Unlock()
	return s.data
}

// SetData stores an arbitrary value with the socket (Node's socket.data).
// FetchSockets reports it marshalled to JSON; recovery restores it as is.
func (s *Socket) SetData(v any) {
	s.dataMu.Lock()
	s.data = v
	s.dataMu.Unlock()
}

// On registers handler for event (see newHandler for the accepted forms:
// RawHandler, or a func whose parameters are decoded from the arguments,
// optionally ending with an AckFunc or func(...any)).
func (s *Socket) On(event string, handler any) error {
	h, err := s.client.srv.sigs.newHandler(handler)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.handlers = append(s.handlers, eventHandler{event: event, h: h})
	s.mu.Unlock()
	return nil
}

// OnAny registers a handler called for every incoming event, before the
// event's own handlers.
func (s *Socket) OnAny(fn func(event string, args []json.RawMessage)) {
	s.mu.Lock()
	s.anyHandlers = append(s.anyHandlers, fn)
	s.mu.Unlock()
}

// OnDisconnecting registers fn, called with the reason when the socket is
// about to disconnect (it is still in its rooms).
func (s *Socket) OnDisconnecting(fn func(reason string)) {
	s.mu.Lock()
	s.onDiscing = append(s.onDiscing, fn)
	s.mu.Unlock()
}

// OnDisconnect registers fn, called with the reason (one of Node's
// reasons, e.g. "client namespace disconnect", "transport close") once the
// socket has disconnected.
func (s *Socket) OnDisconnect(fn func(reason string)) {
	s.mu.Lock()
	s.onDisc = append(s.onDisc, fn)
	s.mu.Unlock()
}

// Emit sends event with args to the client. Reserved names return
// ErrReservedEvent; a disconnected socket returns ErrDisconnected.
func (s *Socket) Emit(event string, args ...any) error {
	p, err := newAppEventPacket(s.nspName, event, args)
	if err != nil {
		return err
	}
	return s.send(p)
}

// EmitVolatile is Emit, except that the packet is dropped (nil returned)
// when the transport cannot take it right now (Node's socket.volatile.emit).
// Packets with binary attachments are always queued.
func (s *Socket) EmitVolatile(event string, args ...any) error {
	p, err := newAppEventPacket(s.nspName, event, args)
	if err != nil {
		return err
	}
	if !s.Connected() {
		return ErrDisconnected
	}
	return s.write(p, engineio.SendVolatile)
}

// EmitWithAck sends event and waits for the client's acknowledgement,
// returning its arguments. It returns an error wrapping ErrTimeout when
// ctx is done first, ErrDisconnected when the socket disconnects first.
func (s *Socket) EmitWithAck(ctx context.Context, event string, args ...any) ([]json.RawMessage, error) {
	p, err := newAppEventPacket(s.nspName, event, args)
	if err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	type result struct {
		args []json.RawMessage
		err  error
	}
	ch := make(chan result, 1)
	s.mu.Lock()
	if s.state != stateConnected {
		s.mu.Unlock()
		return nil, ErrDisconnected
	}
	id := s.nsp.nextAckID()
	s.addAckLocked(id, func(a []json.RawMessage, err error) { ch <- result{a, err} })
	s.mu.Unlock()
	if err := s.write(p.WithID(id), 0); err != nil {
		s.dropAck(id)
		return nil, fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	// The ack comes on the read path: if this handler runs inline on the
	// reader, let reading go on without it.
	s.client.conn.ReleaseReader()
	select {
	case r := <-ch:
		return r.args, r.err
	case <-ctx.Done():
		s.dropAck(id)
		return nil, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
	}
}

// registerAck installs fn for the ack of a packet sent with id (ids come
// from the namespace's counter, shared with broadcasts, as in Node).
func (s *Socket) registerAck(id uint64, fn func([]json.RawMessage, error)) {
	s.mu.Lock()
	if s.state != stateClosed {
		s.addAckLocked(id, fn)
	}
	s.mu.Unlock()
}

// addAckLocked installs fn for id; the map is made on the first ack (an
// idle socket holds none). s.mu is held.
func (s *Socket) addAckLocked(id uint64, fn func([]json.RawMessage, error)) {
	if s.acks == nil {
		s.acks = map[uint64]func([]json.RawMessage, error){}
	}
	s.acks[id] = fn
}

func (s *Socket) dropAck(id uint64) {
	s.mu.Lock()
	delete(s.acks, id)
	s.mu.Unlock()
}

// send writes p if the socket is connected.
func (s *Socket) send(p *Packet) error {
	if !s.Connected() {
		return ErrDisconnected
	}
	if err := s.write(p, 0); err != nil {
		return fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	return nil
}

// Join adds the socket to rooms.
func (s *Socket) Join(rooms ...string) {
	if s.nsp != nil && len(rooms) > 0 {
		s.nsp.adapter.AddAll(s.id, rooms)
	}
}

// Leave removes the socket from room.
func (s *Socket) Leave(room string) {
	if s.nsp != nil {
		s.nsp.adapter.Del(s.id, room)
	}
}

// Rooms lists the socket's rooms (its own id included).
func (s *Socket) Rooms() []string {
	if s.nsp == nil {
		return nil
	}
	return s.nsp.adapter.SocketRooms(s.id)
}

// To broadcasts to rooms, excluding this socket.
func (s *Socket) To(rooms ...string) *BroadcastOperator { return s.Broadcast().To(rooms...) }

// In is To.
func (s *Socket) In(rooms ...string) *BroadcastOperator { return s.To(rooms...) }

// Except broadcasts to every socket but this one and those in rooms.
func (s *Socket) Except(rooms ...string) *BroadcastOperator { return s.Broadcast().Except(rooms...) }

// Broadcast targets every socket of the namespace but this one.
func (s *Socket) Broadcast() *BroadcastOperator {
	return newBroadcastOperator(s.nsp).Except(s.id)
}

// Disconnect disconnects the socket from its namespace (DISCONNECT packet,
// reason "server namespace disconnect"); with close, every socket of the
// client is disconnected and the connection closed ("forced server close").
func (s *Socket) Disconnect(close bool) {
	if !s.Connected() {
		return
	}
	if close {
		s.client.disconnectAll()
		return
	}
	_ = s.write(newControlPacket(PacketDisconnect, s.nspName, nil), 0)
	s.onClose("server namespace disconnect")
}
