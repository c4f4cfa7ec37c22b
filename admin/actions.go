package admin

import (
	"encoding/json"

	"github.com/stickyd/stickyd/socketio"
)

// registerActions installs the UI's actions on an admin socket: "join"
// and "leave" (nsp, room, filter), "_disconnect" (nsp, close, filter) and
// "emit" (nsp, filter, event, args...). filter, when not empty, is the
// room (a socket id for one socket) the action applies to; otherwise it
// applies to the whole namespace. They act on every server through the
// adapter. An action naming a namespace that is not watched, or with
// arguments of the wrong types, is logged and ignored.
func (a *Admin) registerActions(s *socketio.Socket) {
	_ = s.On("join", a.roomAction("join", func(op *socketio.BroadcastOperator, room string) { op.SocketsJoin(room) }))
	_ = s.On("leave", a.roomAction("leave", func(op *socketio.BroadcastOperator, room string) { op.SocketsLeave(room) }))
	_ = s.On("_disconnect", socketio.RawHandler(func(args []json.RawMessage, _ socketio.AckFunc) {
		var nsp, filter string
		var closeConn bool
		if !decodeArgs(args, 2, &nsp, &closeConn, &filter) {
			a.badAction("_disconnect", args)
			return
		}
		if op := a.target(nsp, filter); op != nil {
			op.DisconnectSockets(closeConn)
		}
	}))
	_ = s.On("emit", socketio.RawHandler(func(args []json.RawMessage, _ socketio.AckFunc) {
		var nsp, filter, event string
		if !decodeArgs(args, 3, &nsp, &filter, &event) {
			a.badAction("emit", args)
			return
		}
		op := a.target(nsp, filter)
		if op == nil {
			return
		}
		rest := make([]any, 0, len(args)-3)
		for _, arg := range args[3:] {
			rest = append(rest, arg)
		}
		if err := op.Emit(event, rest...); err != nil {
			a.opts.Logger.Warn("admin emit", "event", event, "error", err)
		}
	}))
}

// roomAction is the handler of join or leave.
func (a *Admin) roomAction(name string, apply func(*socketio.BroadcastOperator, string)) socketio.RawHandler {
	return func(args []json.RawMessage, _ socketio.AckFunc) {
		var nsp, room, filter string
		if !decodeArgs(args, 2, &nsp, &room, &filter) || room == "" {
			a.badAction(name, args)
			return
		}
		if op := a.target(nsp, filter); op != nil {
			apply(op, room)
		}
	}
}

// target is the operator of a watched namespace restricted to filter, or
// nil (logged) for a namespace that is not watched.
func (a *Admin) target(nsp, filter string) *socketio.BroadcastOperator {
	ns, ok := a.watched[nsp]
	if !ok {
		a.opts.Logger.Warn("admin action on a namespace not instrumented: ignored", "namespace", nsp)
		return nil
	}
	if filter == "" {
		return ns.In()
	}
	return ns.In(filter)
}

func (a *Admin) badAction(name string, args []json.RawMessage) {
	a.opts.Logger.Warn("admin action with bad arguments: ignored", "action", name, "args", len(args))
}

// decodeArgs decodes args into dst in order; the first required ones must
// be present, later ones are optional (null or absent leaves them zero).
func decodeArgs(args []json.RawMessage, required int, dst ...any) bool {
	if len(args) < required {
		return false
	}
	for i, d := range dst {
		if i >= len(args) || string(args[i]) == "null" {
			if i < required {
				return false
			}
			continue
		}
		if json.Unmarshal(args[i], d) != nil {
			return false
		}
	}
	return true
}
