package socketio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unsafe"
)

// DefaultMaxAttachments is the default bound on binary attachments per packet.
const DefaultMaxAttachments = 10

// reservedEvents may not be sent as event names, in either direction.
var reservedEvents = map[string]bool{
	"connect":        true,
	"connect_error":  true,
	"disconnect":     true,
	"disconnecting":  true,
	"newListener":    true,
	"removeListener": true,
}

func parseErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrParse}, a...)...)
}

// decodeText parses the text form of a packet, strictly. maxAttachments < 0
// means no bound. The returned packet has no attachments yet; a binary
// packet announces how many follow in want.
func decodeText(s string, maxAttachments int) (p *Packet, want int, err error) {
	return parseText(s, maxAttachments, nil)
}

// parseText is decodeText for d (nil: none). With a decoder, s is the
// bytes of a message that the packet owns (see decoder.add), and event
// names come from d's cache.
func parseText(s string, maxAttachments int, d *decoder) (p *Packet, want int, err error) {
	if s == "" {
		return nil, 0, parseErr("empty packet")
	}
	c := s[0]
	if c < '0' || c > '6' {
		return nil, 0, parseErr("unknown packet type %q", c)
	}
	p = &Packet{typ: PacketType(c - '0'), nsp: "/", id: -1}
	i := 1
	if p.typ.binary() {
		start := i
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if n > 1<<20 {
				return nil, 0, parseErr("illegal attachments")
			}
			n = n*10 + int(s[i]-'0')
			i++
		}
		if i == start || i >= len(s) || s[i] != '-' || n < 1 {
			return nil, 0, parseErr("illegal attachments")
		}
		i++
		if maxAttachments >= 0 && n > maxAttachments {
			return nil, 0, fmt.Errorf("%w: %w: %d > %d", ErrParse, ErrTooManyAttachments, n, maxAttachments)
		}
		want = n
	}
	if i < len(s) && s[i] == '/' {
		start := i
		for i < len(s) && s[i] != ',' {
			i++
		}
		p.nsp = s[start:i]
		if i < len(s) {
			i++ // the comma
		}
	}
	if i < len(s) && s[i] >= '0' && s[i] <= '9' {
		var id int64
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			id = id*10 + int64(s[i]-'0')
			if id > maxAckID {
				return nil, 0, parseErr("ack id out of range")
			}
			i++
		}
		p.id = id
	}
	if i < len(s) {
		p.data = s[i:]
		if err := validatePayload(p, d); err != nil {
			return nil, 0, err
		}
	} else if p.typ == PacketEvent || p.typ == PacketBinaryEvent || p.typ == PacketAck || p.typ == PacketBinaryAck {
		// Node accepts an EVENT without payload and dispatches nothing
		// useful; an event needs a name, so we reject it.
		if p.typ == PacketEvent || p.typ == PacketBinaryEvent {
			return nil, 0, parseErr("invalid payload")
		}
	}
	if p.id >= 0 && p.typ != PacketEvent && p.typ != PacketBinaryEvent && p.typ != PacketAck && p.typ != PacketBinaryAck {
		return nil, 0, parseErr("ack id on %v packet", p.typ)
	}
	if (p.typ == PacketAck || p.typ == PacketBinaryAck) && p.id < 0 {
		return nil, 0, parseErr("ack without id")
	}
	return p, want, nil
}

// validatePayload applies socket.io-parser's isPayloadValid to p.data. An
// EVENT's or ACK's payload is split into its arguments on the way (the
// packet is not shared yet, so they are stored without Args's once); with
// a decoder (d != nil) they share the message's bytes instead of a copy.
func validatePayload(p *Packet, d *decoder) error {
	switch p.typ {
	case PacketEvent, PacketBinaryEvent, PacketAck, PacketBinaryAck:
		var b []byte
		if d != nil {
			b = unsafe.Slice(unsafe.StringData(p.data), len(p.data))
		} else {
			b = []byte(p.data)
		}
		args, ok := splitArray(b)
		if !ok || (p.typ != PacketAck && p.typ != PacketBinaryAck && len(args) == 0) {
			return parseErr("invalid payload")
		}
		p.args, p.argsSet = args, true
		if p.typ == PacketEvent || p.typ == PacketBinaryEvent {
			var names *string
			if d != nil {
				names = &d.lastEvent
			}
			var err error
			if p.event, err = eventNameCached(args[0], names); err != nil {
				return err
			}
		}
		return nil
	}
	t := strings.TrimLeft(p.data, " \t\r\n")
	if !json.Valid([]byte(t)) {
		return parseErr("invalid payload")
	}
	switch p.typ {
	case PacketConnect:
		if t[0] != '{' {
			return parseErr("invalid payload")
		}
	case PacketDisconnect:
		return parseErr("invalid payload")
	case PacketConnectError:
		if t[0] != '{' && t[0] != '"' {
			return parseErr("invalid payload")
		}
	}
	return nil
}

// eventName reads the event name element: a string that is not reserved, or
// a number (named by its JSON text, as a JavaScript EventEmitter would).
func eventName(raw json.RawMessage) (string, error) {
	return eventNameCached(raw, nil)
}

// eventNameCached is eventName with a one-entry cache (nil: none): a name
// equal to *last is returned as *last, without a new string, and a new
// plain name replaces it. A client mostly sends the same few events.
func eventNameCached(raw json.RawMessage, last *string) (string, error) {
	r := bytes.TrimSpace(raw)
	if len(r) == 0 {
		return "", parseErr("invalid payload")
	}
	switch {
	case r[0] == '"':
		if last != nil && len(r) >= 2 && *last != "" && string(r[1:len(r)-1]) == *last && r[len(r)-1] == '"' {
			return *last, nil // *last is plain and not reserved
		}
		s, plain := plainString(r)
		if !plain {
			if err := json.Unmarshal(r, &s); err != nil {
				return "", parseErr("invalid payload")
			}
		}
		if reservedEvents[s] {
			return "", parseErr("reserved event name %q", s)
		}
		if plain && last != nil {
			*last = s
		}
		return s, nil
	case r[0] == '-' || (r[0] >= '0' && r[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(r, &n); err != nil {
			return "", parseErr("invalid payload")
		}
		return string(r), nil
	}
	return "", parseErr("invalid payload")
}

// plainString returns the text of the JSON string token r (quotes
// included) when it needs no decoding: printable ASCII without escapes.
func plainString(r []byte) (string, bool) {
	if len(r) < 2 || r[len(r)-1] != '"' {
		return "", false
	}
	body := r[1 : len(r)-1]
	for _, c := range body {
		if c < 0x20 || c >= 0x7f || c == '\\' || c == '"' {
			return "", false
		}
	}
	return string(body), true
}

// PacketFromEncoded rebuilds a Packet from its wire form (see
// EncodedPacket), validating it as the decoder does but with no bound on
// attachments. The JSON text is kept as is.
func PacketFromEncoded(e EncodedPacket) (*Packet, error) {
	p, want, err := decodeText(e.Text, -1)
	if err != nil {
		return nil, err
	}
	if want != len(e.Attachments) {
		return nil, parseErr("illegal attachments: %d announced, %d given", want, len(e.Attachments))
	}
	if want > 0 {
		p.attachments = e.Attachments
		if err := checkPlaceholders(p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// decoder turns engine.io messages into packets, reassembling binary packets
// from their text frame and attachments. Not safe for concurrent use (the
// engine.io read path calls it serially).
type decoder struct {
	maxAttachments int
	pending        *Packet
	want           int
	lastEvent      string // the last plain event name (eventNameCached)
}

// add feeds one engine.io message. It returns a complete packet, or nil
// while a binary packet waits for attachments.
func (d *decoder) add(data []byte, binary bool) (*Packet, error) {
	if !binary {
		if d.pending != nil {
			return nil, parseErr("got plaintext data when reconstructing a packet")
		}
		// engineio hands data over (nothing else holds or changes it), so
		// the packet's text and its arguments share it rather than copy
		// it: the packet is the only reader of that text, and a handler
		// that changes an argument changes its own copy of the message.
		p, want, err := parseText(unsafe.String(unsafe.SliceData(data), len(data)), d.maxAttachments, d)
		if err != nil {
			return nil, err
		}
		if !p.typ.binary() {
			return p, nil
		}
		d.pending, d.want = p, want
		p.attachments = make([][]byte, 0, want)
		return nil, nil
	}
	if d.pending == nil {
		return nil, parseErr("got binary data when not reconstructing a packet")
	}
	p := d.pending
	p.attachments = append(p.attachments, data)
	if len(p.attachments) < d.want {
		return nil, nil
	}
	d.pending, d.want = nil, 0
	if err := checkPlaceholders(p); err != nil {
		return nil, err
	}
	return p, nil
}

// isPlaceholder reports whether v is an attachment placeholder
// ({"_placeholder":true,...}) and, if so, its validated index.
func isPlaceholder(v any, n int) (idx int, ok bool, err error) {
	m, isMap := v.(map[string]any)
	if !isMap || m["_placeholder"] != true {
		return 0, false, nil
	}
	num, isNum := m["num"].(json.Number)
	if !isNum {
		return 0, true, parseErr("illegal attachments")
	}
	i, e := num.Int64()
	if e != nil || i < 0 || i >= int64(n) {
		return 0, true, parseErr("illegal attachments")
	}
	return int(i), true, nil
}

// walkPlaceholders visits v depth-first, replacing each placeholder by
// repl(index) when repl is non-nil.
func walkPlaceholders(v any, n int, repl func(int) any) (any, error) {
	if idx, ok, err := isPlaceholder(v, n); ok || err != nil {
		if err != nil || repl == nil {
			return v, err
		}
		return repl(idx), nil
	}
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			r, err := walkPlaceholders(e, n, repl)
			if err != nil {
				return nil, err
			}
			t[k] = r
		}
	case []any:
		for i, e := range t {
			r, err := walkPlaceholders(e, n, repl)
			if err != nil {
				return nil, err
			}
			t[i] = r
		}
	}
	return v, nil
}

func decodeAny(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, parseErr("invalid payload")
	}
	return v, nil
}

// checkPlaceholders verifies every placeholder of a binary packet names an
// attachment it carries.
func checkPlaceholders(p *Packet) error {
	if p.data == "" {
		return nil
	}
	v, err := decodeAny([]byte(p.data))
	if err != nil {
		return err
	}
	_, err = walkPlaceholders(v, len(p.attachments), nil)
	return err
}

// resolveArg returns arg with every attachment placeholder replaced by the
// base64 of the attachment, so that encoding/json decodes it into a []byte
// wherever the target type has one. Key order is not preserved (the result
// is only decoded, never forwarded).
func resolveArg(arg json.RawMessage, atts [][]byte) (json.RawMessage, error) {
	if len(atts) == 0 || !bytes.Contains(arg, []byte("_placeholder")) {
		return arg, nil
	}
	v, err := decodeAny(arg)
	if err != nil {
		return nil, err
	}
	v, err = walkPlaceholders(v, len(atts), func(i int) any { return base64.StdEncoding.EncodeToString(atts[i]) })
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}
