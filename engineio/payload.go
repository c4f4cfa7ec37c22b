package engineio

import (
	"bytes"
	"encoding/base64"
	"fmt"
)

// Engine.IO v4 packet types, as the first byte of a text record.
const (
	typeOpen    byte = '0'
	typeClose   byte = '1'
	typePing    byte = '2'
	typePong    byte = '3'
	typeMessage byte = '4'
	typeUpgrade byte = '5'
	typeNoop    byte = '6'
)

// recordSeparator joins the records of a polling payload (v4).
const recordSeparator byte = 0x1e

// packet is one decoded Engine.IO packet. For a binary message, typ is
// typeMessage, binary is true and data holds the raw bytes.
type packet struct {
	typ    byte
	binary bool
	data   []byte
}

// decodePacket decodes one text record: a type digit followed by its data,
// or "b" followed by standard base64 (padding optional) for a binary
// message. The returned data aliases rec except for binary messages.
// A record that is empty, starts with an unknown type, or carries invalid
// base64 yields an error wrapping ErrBadPacket. Text data is a capped
// subslice of rec, so disjoint records of one buffer can be handed to
// different owners.
func decodePacket(rec []byte) (packet, error) {
	if len(rec) == 0 {
		return packet{}, fmt.Errorf("%w: empty record", ErrBadPacket)
	}
	t := rec[0]
	if t == 'b' {
		data, err := decodeBase64(rec[1:])
		if err != nil {
			return packet{}, fmt.Errorf("%w: %v", ErrBadPacket, err)
		}
		return packet{typ: typeMessage, binary: true, data: data}, nil
	}
	if t < typeOpen || t > typeNoop {
		return packet{}, fmt.Errorf("%w: unknown packet type %q", ErrBadPacket, t)
	}
	// Capped so that a callee appending to one packet's data cannot
	// overwrite the next record of the same payload.
	return packet{typ: t, data: rec[1:len(rec):len(rec)]}, nil
}

func decodeBase64(src []byte) ([]byte, error) {
	enc := base64.StdEncoding
	if len(src)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	dst := make([]byte, enc.DecodedLen(len(src)))
	n, err := enc.Decode(dst, src)
	if err != nil {
		return nil, err
	}
	return dst[:n], nil
}

// decodePayload splits a polling request body into records separated by
// 0x1e and decodes each. On a malformed record it returns the packets
// decoded before it together with an error wrapping ErrBadPacket (Node's
// engine.io delivers those packets, then closes with "parse error"). An
// empty body is one empty record and therefore an error. Text data aliases
// body.
func decodePayload(body []byte) ([]packet, error) {
	var pkts []packet
	for {
		i := bytes.IndexByte(body, recordSeparator)
		rec := body
		if i >= 0 {
			rec = body[:i]
		}
		p, err := decodePacket(rec)
		if err != nil {
			return pkts, err
		}
		pkts = append(pkts, p)
		if i < 0 {
			return pkts, nil
		}
		body = body[i+1:]
	}
}

// encodedLen returns the length of f's polling record.
func encodedPayloadLen(frames []*Frame) int {
	n := 0
	for i, f := range frames {
		if i > 0 {
			n++
		}
		n += len(f.pollingRecord())
	}
	return n
}

// appendPayload appends the polling encoding of frames (records joined by
// 0x1e) to dst.
func appendPayload(dst []byte, frames []*Frame) []byte {
	for i, f := range frames {
		if i > 0 {
			dst = append(dst, recordSeparator)
		}
		dst = append(dst, f.pollingRecord()...)
	}
	return dst
}
