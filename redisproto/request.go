package redisproto

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/stickyd/stickyd/socketio"
)

// RequestType is the "type" of a request or response (the classic
// adapter's own numbering, not the cluster adapter's).
type RequestType int

// Request and response types of @socket.io/redis-adapter 8.x.
const (
	TypeSockets              RequestType = 0 // legacy: ids of the sockets in rooms
	TypeAllRooms             RequestType = 1 // every room with a member
	TypeRemoteJoin           RequestType = 2 // target sockets join rooms
	TypeRemoteLeave          RequestType = 3 // target sockets leave rooms
	TypeRemoteDisconnect     RequestType = 4 // target sockets are disconnected
	TypeRemoteFetch          RequestType = 5 // describe the target sockets
	TypeServerSideEmit       RequestType = 6 // an event for the other servers
	TypeBroadcast            RequestType = 7 // a broadcast whose acks are wanted
	TypeBroadcastClientCount RequestType = 8 // response: sockets a type-7 broadcast reached
	TypeBroadcastAck         RequestType = 9 // response: one socket's ack
)

func (t RequestType) valid() bool { return t >= TypeSockets && t <= TypeBroadcastAck }

// Request is a message of the request channel.
type Request struct {
	// UID is the sender's uid; "" when absent (the emitter's join, leave
	// and disconnect requests carry none).
	UID string
	// RequestID is "" when no answer is wanted; it is then omitted from
	// the message, never null.
	RequestID string
	Type      RequestType
	// Opts select the target sockets (types 2 to 5 and 7; flags for 7).
	// HasOpts is false for the legacy forms of types 2 to 4 (SID/Room).
	Opts    socketio.BroadcastOptions
	HasOpts bool
	// Rooms are the rooms to join or leave (types 2, 3), or the rooms of a
	// legacy SOCKETS request (type 0).
	Rooms []string
	// Close closes the connections of disconnected sockets (type 4).
	Close bool
	// SID and Room are the legacy single-socket forms of types 2 to 4.
	SID, Room string
	// Data is [event, ...args] of a server-side emit (type 6), as JSON.
	Data []json.RawMessage
	// Packet is the broadcast of a type 7 request.
	Packet *socketio.Packet
}

// EncodeRequest encodes r as Node does: JSON, except type 7 (msgpack, its
// packet may carry binary). Keys are in Node's order.
func EncodeRequest(r *Request) ([]byte, error) {
	if !r.Type.valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, r.Type)
	}
	m := newMap(6)
	if r.UID != "" {
		m.set("uid", strValue(r.UID))
	}
	if r.RequestID != "" {
		m.set("requestId", strValue(r.RequestID))
	}
	m.set("type", intValue(int64(r.Type)))
	switch r.Type {
	case TypeSockets:
		m.set("rooms", stringsValue(r.Rooms))
	case TypeRemoteJoin, TypeRemoteLeave, TypeRemoteDisconnect:
		if !r.HasOpts {
			m.set("sid", strValue(r.SID))
			if r.Type == TypeRemoteDisconnect {
				m.set("close", boolValue(r.Close))
			} else {
				m.set("room", strValue(r.Room))
			}
			break
		}
		m.set("opts", optsValue(r.Opts, false))
		if r.Type == TypeRemoteDisconnect {
			m.set("close", boolValue(r.Close))
		} else {
			m.set("rooms", stringsValue(r.Rooms))
		}
	case TypeRemoteFetch:
		m.set("opts", optsValue(r.Opts, false))
	case TypeServerSideEmit:
		data, err := rawList(r.Data)
		if err != nil {
			return nil, err
		}
		m.set("data", data)
	case TypeBroadcast:
		pv, err := packetValue(r.Packet)
		if err != nil {
			return nil, err
		}
		m.set("packet", pv).set("opts", optsValue(r.Opts, true))
		return encodeMsgpack(m.v)
	}
	w := jsonWriter{mode: binaryBuffer}
	return w.append(nil, m.v), nil
}

// rawList parses JSON arguments into an array value.
func rawList(args []json.RawMessage) (value, error) {
	items := make([]value, len(args))
	for i, a := range args {
		v, err := parseJSON(a, nil)
		if err != nil {
			return value{}, fmt.Errorf("argument %d: %w", i, err)
		}
		items[i] = v
	}
	return arrayValue(items), nil
}

// decodeMessage decodes a request or response: JSON when it starts with
// '{', msgpack otherwise (as Node decides). It must be a map.
func decodeMessage(msg []byte) (value, error) {
	var v value
	var err error
	if len(msg) > 0 && msg[0] == '{' {
		v, err = parseJSON(msg, nil)
	} else {
		v, err = decodeMsgpack(msg)
	}
	if err != nil {
		return value{}, err
	}
	if v.kind != kindMap {
		return value{}, fmt.Errorf("%w: not a map", ErrMalformed)
	}
	return v, nil
}

// DecodeRequest decodes a request of namespace nsp (the namespace of the
// channel it came on; a type-7 packet of another namespace gives
// ErrForeignNamespace). A type outside 0 to 9 gives ErrUnknownType; a
// field of the wrong kind ErrMalformed.
func DecodeRequest(msg []byte, nsp string) (*Request, error) {
	v, err := decodeMessage(msg)
	if err != nil {
		return nil, err
	}
	r := &Request{}
	if r.Type, err = typeOf(&v, true); err != nil {
		return nil, err
	}
	if r.UID, err = optString(&v, "uid"); err != nil {
		return nil, err
	}
	if r.RequestID, err = optString(&v, "requestId"); err != nil {
		return nil, err
	}
	if o, ok := v.get("opts"); ok && o.kind != kindUndefined && o.kind != kindNull {
		if r.Opts, err = optsFromValue(o); err != nil {
			return nil, err
		}
		r.HasOpts = true
	}
	if r.Rooms, err = roomList(&v, "rooms"); err != nil {
		return nil, err
	}
	if c, ok := v.get("close"); ok && c.kind == kindBool {
		r.Close = c.b
	}
	if r.SID, err = optString(&v, "sid"); err != nil {
		return nil, err
	}
	if r.Room, err = optString(&v, "room"); err != nil {
		return nil, err
	}
	return r, r.decodeBody(&v, nsp)
}

// eventArgs reads the [event, ...args] array of a server-side emit at
// key, each element as JSON.
func eventArgs(v *value, key string) ([]json.RawMessage, error) {
	d, ok := v.get(key)
	if !ok || d.kind != kindArray || len(d.items) == 0 || d.items[0].kind != kindString {
		return nil, fmt.Errorf("%w: server-side emit %s is not [event, ...args]", ErrMalformed, key)
	}
	out := make([]json.RawMessage, len(d.items))
	for i, it := range d.items {
		out[i] = toJSON(it)
	}
	return out, nil
}

// decodeBody reads what types 6 and 7 carry and checks that the other
// types have their targets.
func (r *Request) decodeBody(v *value, nsp string) error {
	switch r.Type {
	case TypeServerSideEmit:
		var err error
		if r.Data, err = eventArgs(v, "data"); err != nil {
			return err
		}
	case TypeBroadcast:
		p, ok := v.get("packet")
		if !ok {
			return fmt.Errorf("%w: broadcast request without packet", ErrMalformed)
		}
		var err error
		if r.Packet, err = packetFromValue(p, nsp); err != nil {
			return err
		}
		if !r.HasOpts {
			return fmt.Errorf("%w: broadcast request without opts", ErrMalformed)
		}
	case TypeRemoteJoin, TypeRemoteLeave, TypeRemoteDisconnect:
		if !r.HasOpts && r.SID == "" {
			return fmt.Errorf("%w: %d request without opts or sid", ErrMalformed, r.Type)
		}
	case TypeRemoteFetch:
		if !r.HasOpts {
			return fmt.Errorf("%w: fetch request without opts", ErrMalformed)
		}
	}
	return nil
}

// typeOf reads "type"; required says a missing one is an error.
func typeOf(v *value, required bool) (RequestType, error) {
	t, ok := v.get("type")
	if !ok || t.kind == kindUndefined {
		if required {
			return 0, fmt.Errorf("%w: no type", ErrMalformed)
		}
		return -1, nil
	}
	if t.kind != kindInt {
		return 0, fmt.Errorf("%w: type is not an integer", ErrMalformed)
	}
	rt := RequestType(t.i)
	if t.i < 0 || t.i > 9 || !rt.valid() {
		return 0, fmt.Errorf("%w: %d", ErrUnknownType, t.i)
	}
	return rt, nil
}

// optString reads a string field; missing, undefined or null is "".
func optString(v *value, key string) (string, error) {
	s, ok := v.get(key)
	if !ok || s.kind == kindUndefined || s.kind == kindNull {
		return "", nil
	}
	switch s.kind {
	case kindString:
		return s.s, nil
	case kindInt:
		return strconv.FormatInt(s.i, 10), nil
	}
	return "", fmt.Errorf("%w: %s is not a string", ErrMalformed, key)
}
