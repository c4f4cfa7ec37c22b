package main

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stickyd/stickyd/adapter"
	"github.com/stickyd/stickyd/socketio"
)

// The cluster operations of CLUSTER_OPS=1: events beyond the bench kit's
// set that let a client drive every adapter operation from the worker its
// socket is on, so that tests with the official client can check each one
// across worker processes. Every handler acks: the requests that gather
// answers (op-remote, op-emit-ack, op-sse-ack, op-sse) ack an opResult,
// {"responses": [...], "error": message} on a failure; the others log a
// failure and ack what they got.

// opTarget selects sockets as a BroadcastOperator does.
type opTarget struct {
	To     []string `json:"to"`
	Except []string `json:"except"`
	Local  bool     `json:"local"`
}

// operator is io's operator for t.
func (t opTarget) operator(io *socketio.Server) *socketio.BroadcastOperator {
	op := io.To(t.To...).Except(t.Except...)
	if t.Local {
		op = op.Local()
	}
	return op
}

// opRemoteSocket is what op-fetch reports of a socket.
type opRemoteSocket struct {
	ID    string          `json:"id"`
	Rooms []string        `json:"rooms"`
	Data  json.RawMessage `json:"data"`
	Auth  json.RawMessage `json:"auth"`
}

// opResult is the ack of a request that may fail.
type opResult struct {
	Responses []json.RawMessage `json:"responses"`
	Error     string            `json:"error,omitempty"`
}

func newOpResult(responses []json.RawMessage, err error) opResult {
	r := opResult{Responses: responses}
	if r.Responses == nil {
		r.Responses = []json.RawMessage{}
	}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// opContext bounds a cluster request to 5 s.
func opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

// registerServerOps installs the server-side emit handlers of the
// cluster operations: "sse-echo" acks [pid, its argument]; "sse-note"
// (no ack) emits "sse-note" with the argument and this pid to this
// worker's sockets.
func registerServerOps(io *socketio.Server, pid int) error {
	if err := io.OnServerSideEmit("sse-echo", func(arg json.RawMessage, ack socketio.AckFunc) {
		_ = ack([]any{pid, arg})
	}); err != nil {
		return err
	}
	return io.OnServerSideEmit("sse-note", func(arg json.RawMessage) {
		_ = io.Local().Emit("sse-note", arg, pid)
	})
}

// registerSocketOps installs the cluster operations on socket s.
func registerSocketOps(io *socketio.Server, s *socketio.Socket, pid int, logger hclog.Logger) {
	_ = s.On("op-set-data", func(data json.RawMessage, ack socketio.AckFunc) {
		s.SetData(data)
		_ = ack(pid)
	})
	_ = s.On("op-emit", func(t opTarget, event string, payload json.RawMessage, ack socketio.AckFunc) {
		_ = t.operator(io).Emit(event, payload)
		_ = ack(pid)
	})
	// op-emit-bin emits "bin" with binary [1 2 3] and {"k":1}, as the
	// fleet's Node test server does.
	_ = s.On("op-emit-bin", func(t opTarget, ack socketio.AckFunc) {
		_ = t.operator(io).Emit("bin", []byte{1, 2, 3}, map[string]int{"k": 1})
		_ = ack(pid)
	})
	_ = s.On("op-sockets-join", func(t opTarget, room string, ack socketio.AckFunc) {
		t.operator(io).SocketsJoin(room)
		_ = ack(pid)
	})
	_ = s.On("op-sockets-leave", func(t opTarget, room string, ack socketio.AckFunc) {
		t.operator(io).SocketsLeave(room)
		_ = ack(pid)
	})
	_ = s.On("op-disconnect", func(t opTarget, closeConn bool, ack socketio.AckFunc) {
		t.operator(io).DisconnectSockets(closeConn)
		_ = ack(pid)
	})
	_ = s.On("op-fetch", func(t opTarget, ack socketio.AckFunc) {
		ctx, cancel := opContext()
		defer cancel()
		sockets, err := t.operator(io).FetchSockets(ctx)
		out := make([]opRemoteSocket, 0, len(sockets))
		for _, rs := range sockets {
			out = append(out, opRemoteSocket{ID: rs.ID, Rooms: rs.Rooms, Data: rs.Data, Auth: rs.Handshake.Auth})
		}
		if err != nil {
			logger.Warn("op-fetch", "error", err)
		}
		_ = ack(out)
	})
	// op-remote acts on every fetched socket through its RemoteSocket:
	// action "emit" (event "remote" with arg), "join" / "leave" (room arg),
	// "disconnect".
	_ = s.On("op-remote", func(t opTarget, action string, arg string, ack socketio.AckFunc) {
		ctx, cancel := opContext()
		defer cancel()
		sockets, err := t.operator(io).FetchSockets(ctx)
		for _, rs := range sockets {
			switch action {
			case "emit":
				_ = rs.Emit("remote", arg)
			case "join":
				rs.Join(arg)
			case "leave":
				rs.Leave(arg)
			case "disconnect":
				rs.Disconnect(false)
			}
		}
		_ = ack(newOpResult(nil, err))
	})
	// op-emit-ack broadcasts "question" with acks; the ack reports the
	// answers and the timeout error, if any.
	_ = s.On("op-emit-ack", func(t opTarget, timeoutMS int, ack socketio.AckFunc) {
		op := t.operator(io).Timeout(time.Duration(timeoutMS) * time.Millisecond)
		responses, err := op.EmitWithAck(context.Background(), "question", pid)
		_ = ack(newOpResult(responses, err))
	})
	_ = s.On("op-sse-ack", func(arg json.RawMessage, ack socketio.AckFunc) {
		ctx, cancel := opContext()
		defer cancel()
		responses, err := io.ServerSideEmitWithAck(ctx, "sse-echo", arg)
		_ = ack(newOpResult(responses, err))
	})
	_ = s.On("op-sse", func(arg json.RawMessage, ack socketio.AckFunc) {
		err := io.ServerSideEmit("sse-note", arg)
		_ = ack(newOpResult(nil, err))
	})
	_ = s.On("op-server-count", func(ack socketio.AckFunc) {
		ctx, cancel := opContext()
		defer cancel()
		n, err := io.ServerCount(ctx)
		if err != nil {
			logger.Warn("op-server-count", "error", err)
		}
		_ = ack(n)
	})
	_ = s.On("op-rooms", func(ack socketio.AckFunc) {
		ctx, cancel := opContext()
		defer cancel()
		rooms, err := fleetRooms(ctx, io.Of("/"))
		if err != nil {
			logger.Warn("op-rooms", "error", err)
		}
		_ = ack(rooms)
	})
	_ = s.On("op-room-sockets", func(room string, ack socketio.AckFunc) {
		ctx, cancel := opContext()
		defer cancel()
		ids, err := adapter.Sockets(ctx, io.Of("/"), room)
		if err != nil {
			logger.Warn("op-room-sockets", "error", err)
		}
		_ = ack(ids)
	})
}
