package ipc

import (
	"encoding/binary"
	"fmt"
)

// HubType is the type byte of a hub-link frame that carries adapter traffic.
// Types below HubTypeFirst are reserved for the link itself (FrameHello).
type HubType uint8

// HubTypeFirst is the lowest adapter frame type.
const HubTypeFirst HubType = 16

// Hub frame types. "w" is a worker, "h" the primary's hub. The payload of
// each is described at its constant; integers are little-endian, strings
// are u32 length + bytes, instance lists are u32 count + u32 each.
const (
	// HubMembers h→w: u32 self, instance list of every live instance
	// (self included). Sent when the link starts and whenever the set
	// changes.
	HubMembers HubType = HubTypeFirst + iota
	// HubRooms w→h: str nsp, u32 count, count × (u8 op, str room): room
	// presence deltas of the sender for one namespace.
	HubRooms
	// HubBroadcast w→h→w: u32 instance, u8 flags, str nsp, u32 count,
	// count × str room, [u32 count, count × str join room when flags has
	// HubJoin], then the opaque payload to the end of the frame. The sender
	// writes instance 0; the hub overwrites it with the sender's instance
	// and forwards the frame unchanged otherwise.
	HubBroadcast
	// HubRequest w→h→w: u32 instance, u64 request id, u8 flags, str nsp,
	// u32 count, count × str room, opaque payload. Routed like HubBroadcast;
	// the hub answers the requester with HubRouted.
	HubRequest
	// HubRouted h→w: u64 request id, instance list of the instances the
	// request was forwarded to.
	HubRouted
	// HubResponse w→h→w: u32 instance, u64 request id, u8 flags, opaque
	// payload. The responder writes the requester's instance; the hub
	// forwards the frame only to that instance with the field overwritten
	// by the responder's instance.
	HubResponse
	// HubSync w→h→w: u64 sequence. The hub echoes it to the sender once
	// every earlier frame of the sender has been applied: a barrier that
	// makes the sender's room announcements visible to later broadcasts.
	HubSync

	hubTypeEnd
)

var hubTypeNames = [...]string{"members", "rooms", "broadcast", "request", "routed", "response", "sync"}

// String returns the lower-case name of t, or "HubType(n)" when unknown.
func (t HubType) String() string {
	if t >= HubTypeFirst && t < hubTypeEnd {
		return hubTypeNames[t-HubTypeFirst]
	}
	return fmt.Sprintf("HubType(%d)", uint8(t))
}

// Flags of HubBroadcast, HubRequest and HubResponse frames. Bits not named
// here are carried unchanged and ignored by the hub.
const (
	// HubVolatile marks a broadcast the hub may drop when the receiving
	// worker's queue is full.
	HubVolatile uint8 = 1 << 0
	// HubFinal marks the last response of one responder to a request.
	HubFinal uint8 = 1 << 1
	// HubJoin marks a broadcast whose receivers make sockets join
	// JoinRooms: the hub indexes every receiver in those rooms at once, so
	// that a broadcast to them sent after this one reaches the receivers
	// (a receiver left with no member announces RoomDel).
	HubJoin uint8 = 1 << 2
)

// RoomOp is one room-presence delta in a HubRooms frame.
type RoomOp uint8

// Room-presence operations. NspJoin and NspLeave carry an empty room.
const (
	RoomAdd  RoomOp = 1 + iota // the sender has a first member of Room
	RoomDel                    // the sender's last member of Room left
	NspJoin                    // the sender serves the namespace
	NspLeave                   // the sender no longer serves it; drops its rooms there
)

// RoomDelta is one entry of a HubRooms frame.
type RoomDelta struct {
	Op   RoomOp
	Room string
}

// HubMessage is one decoded adapter frame. Only the fields of its Type are
// encoded; the others are ignored by AppendBinary and zero after
// DecodeHubMessage.
type HubMessage struct {
	Type HubType

	// Instance is: Members: the receiver's own instance; Broadcast and
	// Request: the origin (0 when written by a worker); Response: the
	// requester when written by a worker, the responder when received.
	Instance  uint32
	ReqID     uint64      // Request, Routed, Response; Sync: the sequence
	Flags     uint8       // Broadcast, Request, Response
	Nsp       string      // Rooms, Broadcast, Request
	Rooms     []string    // Broadcast, Request: target rooms (none: the whole namespace)
	JoinRooms []string    // Broadcast with HubJoin: rooms the receivers join (encoded iff the flag is set)
	Deltas    []RoomDelta // Rooms
	Instances []uint32    // Members, Routed
	Payload   []byte      // Broadcast, Request, Response: opaque to the hub
}

// AppendBinary appends the frame payload of m (without the type byte, which
// is m.Type) to b and returns the extended slice. It fails with ErrMalformed
// for an unknown type or an invalid RoomOp, and with ErrFrameTooLarge when
// the frame would exceed MaxHubFrame; b is then returned unchanged.
func (m *HubMessage) AppendBinary(b []byte) ([]byte, error) {
	start := len(b)
	le := binary.LittleEndian
	switch m.Type {
	case HubMembers:
		b = le.AppendUint32(b, m.Instance)
		b = appendInstances(b, m.Instances)
	case HubRooms:
		b = appendString(b, m.Nsp)
		b = le.AppendUint32(b, uint32(len(m.Deltas)))
		for _, d := range m.Deltas {
			if err := d.check(); err != nil {
				return b[:start], err
			}
			b = append(b, byte(d.Op))
			b = appendString(b, d.Room)
		}
	case HubBroadcast:
		b = le.AppendUint32(b, m.Instance)
		b = append(b, m.Flags)
		b = appendString(b, m.Nsp)
		b = appendRooms(b, m.Rooms)
		if m.Flags&HubJoin != 0 {
			b = appendRooms(b, m.JoinRooms)
		}
		b = append(b, m.Payload...)
	case HubRequest:
		b = le.AppendUint32(b, m.Instance)
		b = le.AppendUint64(b, m.ReqID)
		b = append(b, m.Flags)
		b = appendString(b, m.Nsp)
		b = appendRooms(b, m.Rooms)
		b = append(b, m.Payload...)
	case HubRouted:
		b = le.AppendUint64(b, m.ReqID)
		b = appendInstances(b, m.Instances)
	case HubResponse:
		b = le.AppendUint32(b, m.Instance)
		b = le.AppendUint64(b, m.ReqID)
		b = append(b, m.Flags)
		b = append(b, m.Payload...)
	case HubSync:
		b = le.AppendUint64(b, m.ReqID)
	default:
		return b[:start], fmt.Errorf("%w: unknown hub frame type %d", ErrMalformed, uint8(m.Type))
	}
	if 1+len(b)-start > MaxHubFrame {
		return b[:start], fmt.Errorf("%w: %s frame of %d bytes exceeds %d", ErrFrameTooLarge, m.Type, 1+len(b)-start, MaxHubFrame)
	}
	return b, nil
}

func (d RoomDelta) check() error {
	switch d.Op {
	case RoomAdd, RoomDel:
		return nil
	case NspJoin, NspLeave:
		if d.Room != "" {
			return fmt.Errorf("%w: namespace op %d with room %q", ErrMalformed, d.Op, d.Room)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown room op %d", ErrMalformed, uint8(d.Op))
}

func appendInstances(b []byte, ids []uint32) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		b = binary.LittleEndian.AppendUint32(b, id)
	}
	return b
}

func appendRooms(b []byte, rooms []string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(rooms)))
	for _, r := range rooms {
		b = appendString(b, r)
	}
	return b
}

// DecodeHubMessage decodes the frame payload of an adapter frame of type
// typ. It is strict: an unknown type, a short body, a count or string length
// past the end, an invalid RoomOp or trailing bytes (for the types without
// an opaque payload) give an error wrapping ErrMalformed; a payload over
// MaxHubFrame gives ErrFrameTooLarge. The result does not alias payload.
func DecodeHubMessage(typ byte, payload []byte) (HubMessage, error) {
	m := HubMessage{Type: HubType(typ)}
	if 1+len(payload) > MaxHubFrame {
		return HubMessage{}, fmt.Errorf("%w: %d bytes exceeds %d", ErrFrameTooLarge, 1+len(payload), MaxHubFrame)
	}
	d := decoder{b: payload}
	opaque := false
	switch m.Type {
	case HubMembers:
		m.Instance = d.u32()
		m.Instances = d.instances()
	case HubRooms:
		m.Nsp = string(d.str())
		n := d.count(5)
		if n > 0 {
			m.Deltas = make([]RoomDelta, 0, n)
		}
		for i := 0; i < n && !d.short; i++ {
			var op byte
			if v := d.bytes(1); v != nil {
				op = v[0]
			}
			r := RoomDelta{Op: RoomOp(op), Room: string(d.str())}
			if d.short {
				break
			}
			if err := r.check(); err != nil {
				return HubMessage{}, err
			}
			m.Deltas = append(m.Deltas, r)
		}
	case HubBroadcast:
		m.Instance = d.u32()
		m.Flags = d.u8()
		m.Nsp = string(d.str())
		m.Rooms = d.rooms()
		if m.Flags&HubJoin != 0 {
			m.JoinRooms = d.rooms()
		}
		opaque = true
	case HubRequest:
		m.Instance = d.u32()
		m.ReqID = d.u64()
		m.Flags = d.u8()
		m.Nsp = string(d.str())
		m.Rooms = d.rooms()
		opaque = true
	case HubRouted:
		m.ReqID = d.u64()
		m.Instances = d.instances()
	case HubResponse:
		m.Instance = d.u32()
		m.ReqID = d.u64()
		m.Flags = d.u8()
		opaque = true
	case HubSync:
		m.ReqID = d.u64()
	default:
		return HubMessage{}, fmt.Errorf("%w: unknown hub frame type %d", ErrMalformed, typ)
	}
	if d.short {
		return HubMessage{}, fmt.Errorf("%w: %s frame truncated (%d bytes)", ErrMalformed, m.Type, len(payload))
	}
	if opaque {
		m.Payload = cloneBytes(d.b)
	} else if len(d.b) != 0 {
		return HubMessage{}, fmt.Errorf("%w: %d trailing bytes after %s frame", ErrMalformed, len(d.b), m.Type)
	}
	return m, nil
}

func (d *decoder) u8() uint8 {
	if v := d.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

// count reads a u32 element count and checks that count elements of at
// least minSize bytes each can fit in what is left.
func (d *decoder) count(minSize int) int {
	n := d.u32()
	if d.short || uint64(n)*uint64(minSize) > uint64(len(d.b)) {
		d.short = true
		return 0
	}
	return int(n)
}

func (d *decoder) instances() []uint32 {
	n := d.count(4)
	if n == 0 {
		return nil
	}
	ids := make([]uint32, n)
	for i := range ids {
		ids[i] = d.u32()
	}
	return ids
}

func (d *decoder) rooms() []string {
	n := d.count(4)
	if n == 0 {
		return nil
	}
	rooms := make([]string, 0, n)
	for i := 0; i < n && !d.short; i++ {
		rooms = append(rooms, string(d.str()))
	}
	return rooms
}

// HubRoute is a non-allocating view of the routing header of a HubBroadcast
// or HubRequest frame, for the hub's hot path. Its slices alias the frame.
type HubRoute struct {
	Flags uint8
	ReqID uint64 // HubRequest only
	Nsp   []byte
	NRoom int    // number of target rooms
	NJoin int    // number of join rooms (HubBroadcast with HubJoin)
	rooms []byte // the encoded room strings
	off   int    // NextRoom's position in rooms
	joins []byte // the encoded join room strings
	joff  int    // NextJoinRoom's position in joins
}

// hubRouteInstanceOff is the offset of the instance field in HubBroadcast,
// HubRequest and HubResponse frames.
const hubRouteInstanceOff = 0

// ParseHubRoute reads the routing header of a HubBroadcast or HubRequest
// payload and checks that the room list is well formed. It returns an error
// wrapping ErrMalformed for another type or a malformed header. It does not
// allocate.
func ParseHubRoute(typ byte, payload []byte) (HubRoute, error) {
	var r HubRoute
	d := decoder{b: payload}
	switch HubType(typ) {
	case HubBroadcast:
		d.u32()
	case HubRequest:
		d.u32()
		r.ReqID = d.u64()
	default:
		return r, fmt.Errorf("%w: %s frame has no route", ErrMalformed, HubType(typ))
	}
	r.Flags = d.u8()
	r.Nsp = d.str()
	r.NRoom = d.count(4)
	start := d.b
	for i := 0; i < r.NRoom && !d.short; i++ {
		d.str()
	}
	if d.short {
		return HubRoute{}, fmt.Errorf("%w: %s frame route truncated (%d bytes)", ErrMalformed, HubType(typ), len(payload))
	}
	r.rooms = start[:len(start)-len(d.b)]
	if HubType(typ) == HubBroadcast && r.Flags&HubJoin != 0 {
		r.NJoin = d.count(4)
		start = d.b
		for i := 0; i < r.NJoin && !d.short; i++ {
			d.str()
		}
		if d.short {
			return HubRoute{}, fmt.Errorf("%w: %s frame join rooms truncated (%d bytes)", ErrMalformed, HubType(typ), len(payload))
		}
		r.joins = start[:len(start)-len(d.b)]
	}
	return r, nil
}

// NextJoinRoom returns the next join room of the route, and false after the
// last. The room aliases the frame.
func (r *HubRoute) NextJoinRoom() ([]byte, bool) { return nextListed(r.joins, &r.joff) }

// NextRoom returns the next target room of the route, and false after the
// last. The room aliases the frame.
func (r *HubRoute) NextRoom() ([]byte, bool) { return nextListed(r.rooms, &r.off) }

// nextListed returns the string at *off of list, a run of u32-length-prefixed
// strings already checked by ParseHubRoute, and moves *off past it; it
// returns false at the end of list. The string aliases list.
func nextListed(list []byte, off *int) ([]byte, bool) {
	if *off >= len(list) {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint32(list[*off:]))
	s := list[*off+4 : *off+4+n]
	*off += 4 + n
	return s, true
}

// ParseHubResponseTarget returns the instance field of a HubResponse payload
// (the requester, as written by the responder). It returns an error
// wrapping ErrMalformed when the payload is shorter than the fixed header.
func ParseHubResponseTarget(payload []byte) (uint32, error) {
	if len(payload) < hubResponseFlagsOff+1 {
		return 0, fmt.Errorf("%w: response frame truncated (%d bytes)", ErrMalformed, len(payload))
	}
	return binary.LittleEndian.Uint32(payload[hubRouteInstanceOff:]), nil
}

// SetHubInstance overwrites the instance field of a HubBroadcast, HubRequest
// or HubResponse payload in place; the hub stamps the origin with it. The
// payload must have been accepted by ParseHubRoute or ParseHubResponseTarget.
func SetHubInstance(payload []byte, instance uint32) {
	binary.LittleEndian.PutUint32(payload[hubRouteInstanceOff:], instance)
}

// hubResponseFlagsOff is the offset of the flags byte in a HubResponse
// payload: u32 instance, u64 request id, u8 flags.
const hubResponseFlagsOff = 4 + 8

// HubResponseFlags returns the flags of a HubResponse payload accepted by
// ParseHubResponseTarget (0 for a shorter one), without decoding the rest.
func HubResponseFlags(payload []byte) uint8 {
	if len(payload) <= hubResponseFlagsOff {
		return 0
	}
	return payload[hubResponseFlagsOff]
}
