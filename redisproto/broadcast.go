package redisproto

import (
	"fmt"
	"strconv"
	"time"

	"github.com/stickyd/stickyd/socketio"
)

// EmitterUID is the uid @socket.io/redis-emitter publishes with.
const EmitterUID = "emitter"

// Broadcast is a decoded broadcast message.
type Broadcast struct {
	// UID identifies the publishing server (EmitterUID for an emitter).
	UID string
	// Packet is the EVENT (BINARY_EVENT with binary arguments) to deliver.
	Packet *socketio.Packet
	// Opts are the target rooms, except-rooms and flags; Local is never set.
	Opts socketio.BroadcastOptions
}

// EncodeBroadcast encodes the broadcast [uid, packet, opts] of p (an EVENT
// or BINARY_EVENT without ack id) as @socket.io/redis-adapter does. opts'
// Local flag is not written (local broadcasts are not published).
func EncodeBroadcast(uid string, p *socketio.Packet, opts socketio.BroadcastOptions) ([]byte, error) {
	pv, err := packetValue(p)
	if err != nil {
		return nil, err
	}
	return encodeMsgpack(arrayValue([]value{strValue(uid), pv, optsValue(opts, true)}))
}

// DecodeBroadcast decodes a broadcast message for namespace nsp. A packet
// of another namespace gives ErrForeignNamespace (a packet without nsp is
// "/"'s); any other defect an error wrapping ErrMalformed, ErrTooDeep or
// ErrNotEvent.
func DecodeBroadcast(msg []byte, nsp string) (*Broadcast, error) {
	v, err := decodeMsgpack(msg)
	if err != nil {
		return nil, err
	}
	if v.kind != kindArray || len(v.items) < 3 || v.items[0].kind != kindString {
		return nil, fmt.Errorf("%w: broadcast is not [uid, packet, opts]", ErrMalformed)
	}
	p, err := packetFromValue(&v.items[1], nsp)
	if err != nil {
		return nil, err
	}
	opts, err := optsFromValue(&v.items[2])
	if err != nil {
		return nil, err
	}
	return &Broadcast{UID: v.items[0].s, Packet: p, Opts: opts}, nil
}

// packetValue is the {type: 2, data, nsp} map of an EVENT packet, its
// attachments put back in place of their placeholders.
func packetValue(p *socketio.Packet) (value, error) {
	if t := p.Type(); t != socketio.PacketEvent && t != socketio.PacketBinaryEvent {
		return value{}, fmt.Errorf("%w: %s packet", ErrUnsupported, t)
	}
	atts := p.Attachments()
	if atts == nil {
		atts = [][]byte{}
	}
	data, err := parseJSON([]byte(p.Data()), atts)
	if err != nil {
		return value{}, err
	}
	if data.kind != kindArray {
		return value{}, fmt.Errorf("%w: packet data is not an array", ErrMalformed)
	}
	return newMap(3).set("type", intValue(int64(socketio.PacketEvent))).set("data", data).set("nsp", strValue(p.Namespace())).v, nil
}

// packetFromValue rebuilds the socketio.Packet of a {type, data, nsp} map.
func packetFromValue(v *value, nsp string) (*socketio.Packet, error) {
	if v.kind != kindMap {
		return nil, fmt.Errorf("%w: packet is not a map", ErrMalformed)
	}
	pnsp := "/"
	if n, ok := v.get("nsp"); ok && n.kind != kindUndefined {
		if n.kind != kindString {
			return nil, fmt.Errorf("%w: packet nsp is not a string", ErrMalformed)
		}
		pnsp = n.s
	}
	if pnsp != nsp {
		return nil, fmt.Errorf("%w: %q, not %q", ErrForeignNamespace, pnsp, nsp)
	}
	t, ok := v.get("type")
	if !ok || t.kind != kindInt || (t.i != int64(socketio.PacketEvent) && t.i != int64(socketio.PacketBinaryEvent)) {
		return nil, ErrNotEvent
	}
	data, ok := v.get("data")
	if !ok || data.kind != kindArray || len(data.items) == 0 || data.items[0].kind != kindString {
		return nil, fmt.Errorf("%w: packet data is not [event, ...args]", ErrMalformed)
	}
	w := jsonWriter{mode: binaryPlaceholder}
	text := w.append(nil, *data)
	head := make([]byte, 0, len(text)+len(pnsp)+8)
	if len(w.attachments) > 0 {
		head = append(head, '0'+byte(socketio.PacketBinaryEvent))
		head = strconv.AppendInt(head, int64(len(w.attachments)), 10)
		head = append(head, '-')
	} else {
		head = append(head, '0'+byte(socketio.PacketEvent))
	}
	if pnsp != "/" {
		head = append(head, pnsp...)
		head = append(head, ',')
	}
	p, err := socketio.PacketFromEncoded(socketio.EncodedPacket{Text: string(append(head, text...)), Attachments: w.attachments})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return p, nil
}

// optsValue is the {rooms, except, flags} map of opts (flags only when
// withFlags: join, leave, disconnect and fetch requests carry none).
func optsValue(opts socketio.BroadcastOptions, withFlags bool) value {
	m := newMap(3).set("rooms", stringsValue(opts.Rooms)).set("except", stringsValue(opts.Except))
	if !withFlags {
		return m.v
	}
	flags := newMap(3)
	if opts.Flags.Volatile {
		flags.set("volatile", boolValue(true))
	}
	if opts.Flags.Compress {
		flags.set("compress", boolValue(true))
	}
	if opts.Flags.Timeout > 0 {
		flags.set("timeout", intValue(opts.Flags.Timeout.Milliseconds()))
	}
	return m.set("flags", flags.v).v
}

// optsFromValue reads {rooms, except, flags}; missing lists are empty.
func optsFromValue(v *value) (socketio.BroadcastOptions, error) {
	var opts socketio.BroadcastOptions
	if v.kind != kindMap {
		return opts, fmt.Errorf("%w: opts is not a map", ErrMalformed)
	}
	var err error
	if opts.Rooms, err = roomList(v, "rooms"); err != nil {
		return opts, err
	}
	if opts.Except, err = roomList(v, "except"); err != nil {
		return opts, err
	}
	if f, ok := v.get("flags"); ok && f.kind == kindMap {
		if b, ok := f.get("volatile"); ok && b.kind == kindBool {
			opts.Flags.Volatile = b.b
		}
		if b, ok := f.get("compress"); ok && b.kind == kindBool {
			opts.Flags.Compress = b.b
		}
		if t, ok := f.get("timeout"); ok && t.kind == kindInt && t.i > 0 && t.i < int64(time.Duration(1<<62)/time.Millisecond) {
			opts.Flags.Timeout = time.Duration(t.i) * time.Millisecond
		}
	}
	return opts, nil
}

// roomList reads an array of room names; numbers are rooms by their
// decimal text (JavaScript Set members may be numbers).
func roomList(v *value, key string) ([]string, error) {
	l, ok := v.get(key)
	if !ok || l.kind == kindUndefined || l.kind == kindNull {
		return nil, nil
	}
	if l.kind != kindArray {
		return nil, fmt.Errorf("%w: %s is not an array", ErrMalformed, key)
	}
	out := make([]string, 0, len(l.items))
	for _, it := range l.items {
		switch it.kind {
		case kindString:
			out = append(out, it.s)
		case kindInt:
			out = append(out, strconv.FormatInt(it.i, 10))
		case kindFloat:
			out = append(out, string(appendJSONNumber(nil, it.f)))
		default:
			return nil, fmt.Errorf("%w: %s holds a non-string room", ErrMalformed, key)
		}
	}
	return out, nil
}
