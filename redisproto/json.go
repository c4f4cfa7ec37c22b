package redisproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// parseJSON parses JSON text into a value. With attachments non-nil, an
// object {"_placeholder":true,"num":n} becomes binary value attachments[n]
// (as socket.io-parser reconstructs packets; a bad num is an error).
func parseJSON(text []byte, attachments [][]byte) (value, error) {
	d := json.NewDecoder(bytes.NewReader(text))
	d.UseNumber()
	p := jsonParser{d: d, attachments: attachments}
	v, err := p.value(0)
	if err != nil {
		return value{}, err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return value{}, fmt.Errorf("%w: text after the JSON value", ErrMalformed)
	}
	return v, nil
}

type jsonParser struct {
	d           *json.Decoder
	attachments [][]byte
}

func (p jsonParser) value(depth int) (value, error) {
	if depth > MaxDepth {
		return value{}, ErrTooDeep
	}
	tok, err := p.d.Token()
	if err != nil {
		return value{}, malformed(err)
	}
	switch t := tok.(type) {
	case nil:
		return value{kind: kindNull}, nil
	case bool:
		return boolValue(t), nil
	case string:
		return strValue(t), nil
	case json.Number:
		return numberValue(string(t))
	case json.Delim:
		if t == '[' {
			var items []value
			for p.d.More() {
				it, err := p.value(depth + 1)
				if err != nil {
					return value{}, err
				}
				items = append(items, it)
			}
			_, _ = p.d.Token()
			if items == nil {
				items = []value{}
			}
			return arrayValue(items), nil
		}
		return p.object(depth)
	}
	return value{}, fmt.Errorf("%w: unexpected JSON token", ErrMalformed)
}

func (p jsonParser) object(depth int) (value, error) {
	m := newMap(4)
	for p.d.More() {
		tok, err := p.d.Token()
		if err != nil {
			return value{}, malformed(err)
		}
		key, _ := tok.(string)
		v, err := p.value(depth + 1)
		if err != nil {
			return value{}, err
		}
		m.set(key, v)
	}
	_, _ = p.d.Token()
	if p.attachments != nil {
		if ph, ok := m.v.get("_placeholder"); ok && ph.kind == kindBool && ph.b {
			return p.placeholder(&m.v)
		}
	}
	return m.v, nil
}

func (p jsonParser) placeholder(obj *value) (value, error) {
	num, ok := obj.get("num")
	if !ok || num.kind != kindInt || num.i < 0 || num.i >= int64(len(p.attachments)) {
		return value{}, fmt.Errorf("%w: placeholder without a valid num", ErrMalformed)
	}
	return binaryValue(p.attachments[num.i]), nil
}

// numberValue is an integer when the text is integral and fits int64,
// a float otherwise (integral floats encode as integers anyway).
func numberValue(s string) (value, error) {
	if !strings.ContainsAny(s, ".eE") {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return intValue(n), nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return value{}, malformed(err)
	}
	if math.IsInf(f, 0) {
		return value{kind: kindNull}, nil
	}
	return value{kind: kindFloat, f: f}, nil
}

// binaryMode says how appendJSON writes binary values.
type binaryMode int

const (
	// binaryPlaceholder writes {"_placeholder":true,"num":n} and collects
	// the bytes as attachments.
	binaryPlaceholder binaryMode = iota
	// binaryBuffer writes what JSON.stringify gives for a Node Buffer:
	// {"type":"Buffer","data":[bytes...]} (where no attachments can follow).
	binaryBuffer
)

// jsonWriter writes values as JSON text.
type jsonWriter struct {
	mode        binaryMode
	attachments [][]byte
}

func (w *jsonWriter) append(b []byte, v value) []byte {
	switch v.kind {
	case kindNull, kindUndefined:
		return append(b, "null"...)
	case kindBool:
		return strconv.AppendBool(b, v.b)
	case kindInt:
		return strconv.AppendInt(b, v.i, 10)
	case kindUint:
		return strconv.AppendUint(b, v.u, 10)
	case kindFloat:
		return appendJSONNumber(b, v.f)
	case kindString:
		return appendJSONString(b, v.s)
	case kindBinary:
		return w.appendBinary(b, v.bin)
	case kindArray:
		b = append(b, '[')
		for i, it := range v.items {
			if i > 0 {
				b = append(b, ',')
			}
			b = w.append(b, it)
		}
		return append(b, ']')
	case kindMap:
		b = append(b, '{')
		first := true
		for i, k := range v.keys {
			if v.items[i].kind == kindUndefined {
				continue // JSON.stringify omits undefined properties
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = w.append(b, v.items[i])
		}
		return append(b, '}')
	}
	return append(b, "null"...)
}

func (w *jsonWriter) appendBinary(b, bin []byte) []byte {
	if w.mode == binaryPlaceholder {
		b = append(b, `{"_placeholder":true,"num":`...)
		b = strconv.AppendInt(b, int64(len(w.attachments)), 10)
		w.attachments = append(w.attachments, bin)
		return append(b, '}')
	}
	b = append(b, `{"type":"Buffer","data":[`...)
	for i, c := range bin {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(c), 10)
	}
	return append(b, "]}"...)
}

// toJSON writes v as JSON text, binary values as Buffer objects.
func toJSON(v value) json.RawMessage {
	w := jsonWriter{mode: binaryBuffer}
	return w.append(nil, v)
}

// appendJSONNumber writes f as JavaScript's Number#toString would, within
// what JSON allows (plain notation from 1e-7 to 1e21, exponent outside).
func appendJSONNumber(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	if a := math.Abs(f); a == 0 || (a >= 1e-7 && a < 1e21) {
		return strconv.AppendFloat(b, f, 'f', -1, 64)
	}
	return strconv.AppendFloat(b, f, 'e', -1, 64)
}

// appendJSONString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
