package redisproto

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/stickyd/stickyd/socketio"
)

// ClusterType is the "type" of a ClusterAdapter message (socket.io-adapter
// 2.5's MessageType, which the sharded @socket.io/redis-adapter speaks; not
// the classic adapter's RequestType).
type ClusterType int

// ClusterAdapter message types of the sharded mode (it sends no
// heartbeats, types 1, 2 and 13).
const (
	ClusterBroadcast            ClusterType = 3  // {opts, packet, requestId?}
	ClusterSocketsJoin          ClusterType = 4  // {opts, rooms}
	ClusterSocketsLeave         ClusterType = 5  // {opts, rooms}
	ClusterDisconnectSockets    ClusterType = 6  // {opts, close}
	ClusterFetchSockets         ClusterType = 7  // {opts, requestId}
	ClusterFetchSocketsResponse ClusterType = 8  // {requestId, sockets}
	ClusterServerSideEmit       ClusterType = 9  // {requestId?, packet: [event, ...args]}
	ClusterServerSideEmitResp   ClusterType = 10 // {requestId, packet: the ack's argument}
	ClusterBroadcastClientCount ClusterType = 11 // {requestId, clientCount}
	ClusterBroadcastAck         ClusterType = 12 // {requestId, packet: one socket's ack argument}
)

func (t ClusterType) valid() bool { return t >= ClusterBroadcast && t <= ClusterBroadcastAck }

// IsResponse reports whether t answers a request (types 8, 10, 11, 12).
func (t ClusterType) IsResponse() bool {
	return t == ClusterFetchSocketsResponse || t == ClusterServerSideEmitResp ||
		t == ClusterBroadcastClientCount || t == ClusterBroadcastAck
}

// ClusterMessage is one message {type, data, uid, nsp} of the sharded mode.
// Which fields are used depends on Type (see the constants).
type ClusterMessage struct {
	Type ClusterType
	UID  string
	NSP  string
	// RequestID is "" when no answer is wanted (omitted on the wire).
	RequestID string
	// Opts select the target sockets (types 3 to 7).
	Opts socketio.BroadcastOptions
	// Packet is the EVENT of a broadcast (type 3); its nsp is NSP.
	Packet *socketio.Packet
	// Rooms to join or leave (types 4, 5).
	Rooms []string
	// Close closes the connections of disconnected sockets (type 6).
	Close bool
	// Args is [event, ...args] of a server-side emit (type 9), as JSON.
	Args []json.RawMessage
	// Sockets answer a fetch (type 8).
	Sockets []socketio.SocketInfo
	// ClientCount answers a broadcast with acks (type 11).
	ClientCount int
	// Ack is the argument of an ack (types 10, 12); nil when undefined.
	Ack json.RawMessage
}

// EncodeCluster encodes m as Node's sharded adapter does: JSON, or the
// whole message msgpack when its data holds binary. Keys are in Node's
// order.
func EncodeCluster(m *ClusterMessage) ([]byte, error) {
	if !m.Type.valid() {
		return nil, fmt.Errorf("%w: cluster type %d", ErrUnknownType, m.Type)
	}
	data, err := m.dataValue()
	if err != nil {
		return nil, err
	}
	v := newMap(4).set("type", intValue(int64(m.Type))).set("data", data).
		set("uid", strValue(m.UID)).set("nsp", strValue(m.NSP)).v
	if hasBinary(data) {
		return encodeMsgpack(v)
	}
	return jsonOf(v), nil
}

func (m *ClusterMessage) dataValue() (value, error) {
	d := newMap(3)
	switch m.Type {
	case ClusterBroadcast:
		pv, err := packetValue(m.Packet)
		if err != nil {
			return value{}, err
		}
		pv.keys, pv.items = pv.keys[:2], pv.items[:2] // Node's packet carries no nsp
		d.set("packet", pv)
		m.setRequestID(d, false)
		d.set("opts", optsValue(m.Opts, true))
	case ClusterSocketsJoin, ClusterSocketsLeave:
		d.set("opts", optsValue(m.Opts, true)).set("rooms", stringsValue(m.Rooms))
	case ClusterDisconnectSockets:
		d.set("opts", optsValue(m.Opts, true)).set("close", boolValue(m.Close))
	case ClusterFetchSockets:
		d.set("opts", optsValue(m.Opts, true))
		m.setRequestID(d, true)
	case ClusterServerSideEmit:
		m.setRequestID(d, false)
		args, err := rawList(m.Args)
		if err != nil {
			return value{}, err
		}
		d.set("packet", args)
	case ClusterFetchSocketsResponse:
		m.setRequestID(d, true)
		raw, err := json.Marshal(wireSockets(m.Sockets))
		if err != nil {
			return value{}, err
		}
		sv, err := parseJSON(raw, nil)
		if err != nil {
			return value{}, err
		}
		d.set("sockets", sv)
	case ClusterBroadcastClientCount:
		m.setRequestID(d, true)
		d.set("clientCount", intValue(int64(m.ClientCount)))
	case ClusterServerSideEmitResp, ClusterBroadcastAck:
		m.setRequestID(d, true)
		if m.Ack != nil {
			av, err := parseJSON(m.Ack, nil)
			if err != nil {
				return value{}, err
			}
			d.set("packet", av)
		}
	}
	return d.v, nil
}

func (m *ClusterMessage) setRequestID(d *mapBuilder, always bool) {
	if always || m.RequestID != "" {
		d.set("requestId", strValue(m.RequestID))
	}
}

// wireSockets are sockets in the fetch answer's shape.
func wireSockets(sockets []socketio.SocketInfo) []wireSocket {
	out := make([]wireSocket, 0, len(sockets))
	for _, s := range sockets {
		data := s.Data
		if len(data) == 0 || !json.Valid(data) {
			data = nil
		}
		out = append(out, wireSocket{ID: s.ID, Handshake: NewWireHandshake(s.Handshake), Rooms: nonNilStrings(s.Rooms), Data: data})
	}
	return out
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// hasBinary reports whether v holds a binary value anywhere.
func hasBinary(v value) bool {
	switch v.kind {
	case kindBinary:
		return true
	case kindArray, kindMap:
		for _, it := range v.items {
			if hasBinary(it) {
				return true
			}
		}
	}
	return false
}

// DecodeCluster decodes a sharded-mode message (JSON when it starts with
// '{', msgpack otherwise, as Node decides). A type outside 3 to 12 gives
// ErrUnknownType; a missing or wrong field ErrMalformed (wrapped).
func DecodeCluster(msg []byte) (*ClusterMessage, error) {
	v, err := decodeMessage(msg)
	if err != nil {
		return nil, err
	}
	t, ok := v.get("type")
	if !ok || t.kind != kindInt {
		return nil, fmt.Errorf("%w: cluster message without type", ErrMalformed)
	}
	m := &ClusterMessage{Type: ClusterType(t.i)}
	if !m.Type.valid() {
		return nil, fmt.Errorf("%w: cluster type %d", ErrUnknownType, t.i)
	}
	if m.UID, err = optString(&v, "uid"); err != nil {
		return nil, err
	}
	if m.NSP, err = optString(&v, "nsp"); err != nil {
		return nil, err
	}
	if m.NSP == "" {
		m.NSP = "/"
	}
	d, ok := v.get("data")
	if !ok || d.kind != kindMap {
		return nil, fmt.Errorf("%w: cluster message data is not a map", ErrMalformed)
	}
	if m.RequestID, err = optString(d, "requestId"); err != nil {
		return nil, err
	}
	if (m.Type.IsResponse() || m.Type == ClusterFetchSockets) && m.RequestID == "" {
		return nil, fmt.Errorf("%w: type %d without requestId", ErrMalformed, m.Type)
	}
	return m, m.decodeData(d)
}

// String is the decimal type, as in log lines.
func (t ClusterType) String() string { return strconv.Itoa(int(t)) }
