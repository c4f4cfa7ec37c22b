package socketio

import (
	"context"
	"encoding/json"
	"time"
)

// BroadcastFlags modify a broadcast. The zero value is a plain broadcast.
type BroadcastFlags struct {
	// Volatile packets are dropped for sockets whose transport is not
	// writable right now, and are never stored for connection state recovery.
	Volatile bool `json:"volatile,omitempty"`
	// Compress is advisory (engineio decides per transport); kept so the
	// options round-trip like Node's.
	Compress bool `json:"compress,omitempty"`
	// Local restricts the operation to this server: a cluster adapter must
	// not forward it.
	Local bool `json:"local,omitempty"`
	// Timeout bounds operations that wait for answers (EmitWithAck,
	// FetchSockets); zero means the caller's context alone bounds them.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// BroadcastOptions select the target sockets of a cluster-wide operation: the
// sockets in any of Rooms (every socket of the namespace when Rooms is
// empty), minus the sockets in any of Except. A socket's own id is a room,
// so {Rooms: [id]} targets one socket wherever it lives. It is a plain
// value, serialisable with encoding/json, meant to be shipped to other servers.
type BroadcastOptions struct {
	Rooms  []string       `json:"rooms,omitempty"`
	Except []string       `json:"except,omitempty"`
	Flags  BroadcastFlags `json:"flags"`
}

// SocketInfo describes a socket for FetchSockets. A cluster adapter sends it
// between servers as JSON; Data is the socket's Data marshalled to JSON
// (null when unset or not marshallable).
type SocketInfo struct {
	ID        string          `json:"id"`
	Handshake Handshake       `json:"handshake"`
	Rooms     []string        `json:"rooms"`
	Data      json.RawMessage `json:"data"`

	local *Socket // set by InMemoryAdapter for sockets of this process
}

// Session is the state of a disconnected socket kept for connection state
// recovery (Options.ConnectionStateRecovery).
type Session struct {
	SID   string   `json:"sid"`
	PID   string   `json:"pid"`
	Rooms []string `json:"rooms"`
	// Data is the socket's Data value, restored as is.
	Data any `json:"data"`
	// MissedPackets are the EVENT packets (offset included)
	// broadcast to the session's rooms while it was away; filled by
	// RestoreSession.
	MissedPackets []*Packet `json:"-"`
}

// Adapter keeps the room membership of one namespace's local sockets and
// carries the operations that must reach every server of a cluster. The
// default is the in-memory adapter (NewInMemoryAdapter), for a single
// process; Options.Adapter installs another one per namespace.
//
// Local versus cluster-wide:
//   - AddAll, Del, DelAll, Rooms, SocketRooms and Sockets act on this
//     process's sockets only; the namespace calls them when its sockets
//     join and leave rooms (a cluster adapter may observe them to
//     publish membership).
//   - Broadcast, BroadcastWithAck, AddSockets, DelSockets,
//     DisconnectSockets, FetchSockets, ServerSideEmit and ServerCount must
//     reach every server of the cluster, except that an operation whose
//     opts.Flags.Local is set stays on this server. A cluster adapter
//     implements them by applying the operation locally (through an
//     embedded *InMemoryAdapter) and relaying it to the other servers,
//     where it is applied with their local adapter.
//
// Ordering: the local part of Broadcast is done before Broadcast returns
// (frames are queued on every target socket), so broadcasts issued by one
// goroutine reach each local socket in order; a cluster adapter must keep
// the order of operations from one server to another (FIFO per origin).
//
// Writing a cluster adapter: embed *InMemoryAdapter (NewInMemoryAdapter(nsp)).
// Observe AddAll/Del/DelAll to publish which rooms have local members. For
// each cluster-wide method, call the embedded method (the local part) and,
// unless opts.Flags.Local, relay the operation: packets as
// p.Encoded() (rebuilt with PacketFromEncoded, JSON untouched), options
// and SocketInfo as JSON. On a receiving server apply it with the embedded
// InMemoryAdapter method (BroadcastWithAck: relay its onClientCount and
// onAck calls back to the origin); deliver server-side emits with
// (*Namespace).DispatchServerSideEmit, whose ack gives the answer.
// RemoteSocket methods use {Rooms: [socketID]}, so targeting one socket on
// another server is an ordinary cluster operation.
//
// Concurrency: every method may be called from any goroutine, concurrently.
// Callbacks (onClientCount, onAck) may be called from any goroutine, but
// never while the adapter holds a lock the caller could need.
type Adapter interface {
	// Init is called once, after construction and before any other method.
	Init() error
	// Close releases the adapter's resources; called when the server closes.
	Close() error

	// AddAll adds local socket id to rooms (a socket's own id is a room).
	AddAll(id string, rooms []string)
	// Del removes local socket id from room.
	Del(id, room string)
	// DelAll removes local socket id from every room.
	DelAll(id string)
	// Rooms lists the rooms that have at least one local socket.
	Rooms() []string
	// SocketRooms lists the rooms of local socket id (nil if unknown).
	SocketRooms(id string) []string
	// Sockets lists the local socket ids in any of rooms (all local sockets
	// when rooms is empty).
	Sockets(rooms []string) []string

	// Broadcast sends p (an EVENT packet without ack id) to every target
	// socket of opts, on every server. Must not block on the network.
	Broadcast(p *Packet, opts BroadcastOptions)
	// BroadcastWithAck sends p to every target socket, each server giving it
	// its own ack id (p.WithID; the JSON is not re-encoded), and returns the
	// number of servers it was sent to (this one included).
	//
	// Each server reports once, through onClientCount(n), how many sockets it
	// sent p to; onAck(args) is then called once per socket that answers,
	// with the arguments of its ACK. The set is complete when
	// onClientCount was called as many times as the return value says and
	// the counts' sum of onAck calls arrived. A server that goes away must
	// not leave the set hanging: an adapter reports each other server's
	// count once, final, when that server's acks are complete or it has
	// gone (then as the number of acks it did relay, 0 if none), so a
	// count is never corrected afterwards.
	BroadcastWithAck(p *Packet, opts BroadcastOptions, onClientCount func(n int), onAck func(args []json.RawMessage)) (servers int)
	// AddSockets makes the target sockets of opts join rooms, on every server.
	AddSockets(opts BroadcastOptions, rooms []string)
	// DelSockets makes the target sockets of opts leave rooms, on every server.
	DelSockets(opts BroadcastOptions, rooms []string)
	// DisconnectSockets disconnects the target sockets of opts, on every
	// server; close also closes their underlying connection.
	DisconnectSockets(opts BroadcastOptions, close bool)
	// FetchSockets describes the target sockets of opts, on every server. It
	// returns when every server answered, or when ctx is done or
	// opts.Flags.Timeout passes (then with what arrived and an error
	// wrapping ErrTimeout).
	FetchSockets(ctx context.Context, opts BroadcastOptions) ([]SocketInfo, error)
	// ServerSideEmit delivers args (args[0] is the event name as a JSON
	// string) to the OnServerSideEmit handlers of this namespace on every
	// OTHER server (there, through (*Namespace).DispatchServerSideEmit).
	// Without wantAck it returns once sent. With wantAck it returns the
	// answers of the other servers (the first argument each handler acked
	// with) when all arrived, or, when ctx is done, what arrived and an
	// error wrapping ErrTimeout. With no other server it returns (nil, nil).
	ServerSideEmit(ctx context.Context, args []json.RawMessage, wantAck bool) ([]json.RawMessage, error)
	// ServerCount reports how many servers the cluster has (1 alone).
	ServerCount(ctx context.Context) (int, error)

	// PersistSession stores the state of a socket that disconnected for a
	// recoverable reason (connection state recovery only).
	PersistSession(s *Session)
	// RestoreSession returns the session pid with the packets it missed after
	// offset, and forgets it; (nil, nil) when unknown, expired, or the offset
	// is not found.
	RestoreSession(pid, offset string) (*Session, error)
}

// SessionKeeper is an optional interface of an Adapter, for connection
// state recovery across servers. When a socket disconnects for a
// recoverable reason, the namespace calls KeepSession(s) while the socket
// is still in its rooms, then DelAll(s.SID), then PersistSession(s) with
// the same s. A cluster adapter uses it to go on announcing s.Rooms
// without a gap, so that broadcasts from other servers keep reaching the
// store of missed packets; the adapter must release them when the session
// is restored or expires. Called on the socket's handler goroutine.
type SessionKeeper interface {
	KeepSession(s *Session)
}
