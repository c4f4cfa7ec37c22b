package redisproto

import (
	"encoding/json"
	"fmt"

	"github.com/stickyd/stickyd/socketio"
)

// Response is a message of a response channel. Which fields are set
// depends on the request it answers (Node's fetch and room responses
// carry no type).
type Response struct {
	// Type is -1 when absent.
	Type      RequestType
	RequestID string
	// Rooms answers ALL_ROOMS.
	Rooms []string
	// ClientCount answers a type-7 broadcast (type 8).
	ClientCount int
	// Data is a server's answer to a server-side emit (type 6); Packet the
	// first ack argument of one socket (type 9). nil when absent
	// (undefined), else JSON (binary as {"type":"Buffer","data":[...]}).
	Data   json.RawMessage
	Packet json.RawMessage

	sockets *value // "sockets" of a SOCKETS or REMOTE_FETCH answer
}

// DecodeResponse decodes a response (JSON or msgpack). It needs a string
// requestId; a type outside 0 to 9 gives ErrUnknownType.
func DecodeResponse(msg []byte) (*Response, error) {
	v, err := decodeMessage(msg)
	if err != nil {
		return nil, err
	}
	r := &Response{}
	if r.Type, err = typeOf(&v, false); err != nil {
		return nil, err
	}
	if r.RequestID, err = optString(&v, "requestId"); err != nil {
		return nil, err
	}
	if r.RequestID == "" {
		return nil, fmt.Errorf("%w: response without requestId", ErrMalformed)
	}
	if r.Rooms, err = roomList(&v, "rooms"); err != nil {
		return nil, err
	}
	if c, ok := v.get("clientCount"); ok {
		if c.kind != kindInt || c.i < 0 || c.i > 1<<31 {
			return nil, fmt.Errorf("%w: clientCount is not a count", ErrMalformed)
		}
		r.ClientCount = int(c.i)
	}
	if d, ok := v.get("data"); ok && d.kind != kindUndefined {
		r.Data = toJSON(*d)
	}
	if p, ok := v.get("packet"); ok && p.kind != kindUndefined {
		r.Packet = toJSON(*p)
	}
	if s, ok := v.get("sockets"); ok {
		if s.kind != kindArray {
			return nil, fmt.Errorf("%w: sockets is not an array", ErrMalformed)
		}
		r.sockets = s
	}
	return r, nil
}

// HasSockets reports whether the response carries a "sockets" array.
func (r *Response) HasSockets() bool { return r.sockets != nil }

// SocketIDs reads the "sockets" of a legacy SOCKETS answer (ids).
func (r *Response) SocketIDs() ([]string, error) {
	if r.sockets == nil {
		return nil, nil
	}
	return roomList(&value{kind: kindMap, keys: []string{"s"}, items: []value{*r.sockets}}, "s")
}

// FetchedSockets reads the "sockets" of a REMOTE_FETCH answer.
func (r *Response) FetchedSockets() ([]socketio.SocketInfo, error) {
	if r.sockets == nil {
		return nil, nil
	}
	out := make([]socketio.SocketInfo, 0, len(r.sockets.items))
	for i := range r.sockets.items {
		s := &r.sockets.items[i]
		if s.kind != kindMap {
			return nil, fmt.Errorf("%w: socket %d is not a map", ErrMalformed, i)
		}
		var info socketio.SocketInfo
		var err error
		if info.ID, err = optString(s, "id"); err != nil || info.ID == "" {
			return nil, fmt.Errorf("%w: socket %d has no id", ErrMalformed, i)
		}
		if info.Rooms, err = roomList(s, "rooms"); err != nil {
			return nil, err
		}
		info.Data = json.RawMessage("null")
		if d, ok := s.get("data"); ok && d.kind != kindUndefined {
			info.Data = toJSON(*d)
		}
		if h, ok := s.get("handshake"); ok && h.kind == kindMap {
			if info.Handshake, err = handshakeFromJSON(toJSON(*h)); err != nil {
				return nil, err
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// wireSocket is one socket of a REMOTE_FETCH answer.
type wireSocket struct {
	ID        string          `json:"id"`
	Handshake WireHandshake   `json:"handshake"`
	Rooms     []string        `json:"rooms"`
	Data      json.RawMessage `json:"data,omitempty"`
}

// EncodeFetchResponse answers REMOTE_FETCH: {requestId, sockets: [{id,
// handshake, rooms, data}]}, handshakes in Node's shape (NewWireHandshake).
func EncodeFetchResponse(requestID string, sockets []socketio.SocketInfo) ([]byte, error) {
	out := struct {
		RequestID string       `json:"requestId"`
		Sockets   []wireSocket `json:"sockets"`
	}{RequestID: requestID, Sockets: make([]wireSocket, 0, len(sockets))}
	for _, s := range sockets {
		rooms := s.Rooms
		if rooms == nil {
			rooms = []string{}
		}
		data := s.Data
		if len(data) == 0 || !json.Valid(data) {
			data = nil
		}
		out.Sockets = append(out.Sockets, wireSocket{ID: s.ID, Handshake: NewWireHandshake(s.Handshake), Rooms: rooms, Data: data})
	}
	return json.Marshal(out)
}

// EncodeSocketsResponse answers a legacy SOCKETS request with socket ids.
func EncodeSocketsResponse(requestID string, ids []string) []byte {
	return jsonOf(newMap(2).set("requestId", strValue(requestID)).set("sockets", stringsValue(ids)).v)
}

// EncodeAllRoomsResponse answers ALL_ROOMS: {requestId, rooms}.
func EncodeAllRoomsResponse(requestID string, rooms []string) []byte {
	return jsonOf(newMap(2).set("requestId", strValue(requestID)).set("rooms", stringsValue(rooms)).v)
}

// EncodeDoneResponse answers the legacy forms of types 2 to 4: {requestId}.
func EncodeDoneResponse(requestID string) []byte {
	return jsonOf(newMap(1).set("requestId", strValue(requestID)).v)
}

// EncodeServerSideEmitResponse answers a server-side emit with ack:
// {type: 6, requestId, data}; data nil (undefined) omits "data".
func EncodeServerSideEmitResponse(requestID string, data json.RawMessage) ([]byte, error) {
	m := newMap(3).set("type", intValue(int64(TypeServerSideEmit))).set("requestId", strValue(requestID))
	if data != nil {
		v, err := parseJSON(data, nil)
		if err != nil {
			return nil, err
		}
		m.set("data", v)
	}
	return jsonOf(m.v), nil
}

// EncodeClientCountResponse answers a type-7 broadcast with the number of
// sockets it reached here: {type: 8, requestId, clientCount} (JSON).
func EncodeClientCountResponse(requestID string, n int) []byte {
	return jsonOf(newMap(3).set("type", intValue(int64(TypeBroadcastClientCount))).
		set("requestId", strValue(requestID)).set("clientCount", intValue(int64(n))).v)
}

// EncodeBroadcastAckResponse relays one socket's ack of a type-7
// broadcast: msgpack {type: 9, requestId, packet: its first argument};
// arg nil (an ack without arguments) omits "packet".
func EncodeBroadcastAckResponse(requestID string, arg json.RawMessage) ([]byte, error) {
	m := newMap(3).set("type", intValue(int64(TypeBroadcastAck))).set("requestId", strValue(requestID))
	if arg != nil {
		v, err := parseJSON(arg, nil)
		if err != nil {
			return nil, err
		}
		m.set("packet", v)
	}
	return encodeMsgpack(m.v)
}

func jsonOf(v value) []byte {
	w := jsonWriter{mode: binaryBuffer}
	return w.append(nil, v)
}
