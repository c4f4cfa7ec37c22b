package redisproto

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// MaxDepth bounds the nesting of arrays and maps in a decoded message.
const MaxDepth = 128

// kind is the type of a value.
type kind uint8

const (
	kindNull kind = iota
	kindUndefined
	kindBool
	kindInt
	kindUint // above math.MaxInt64
	kindFloat
	kindString
	kindBinary
	kindArray
	kindMap
)

// value is one decoded msgpack or JSON value. Maps keep their key order, so
// a value re-encodes to the bytes it came from.
type value struct {
	kind  kind
	b     bool
	i     int64
	u     uint64
	f     float64
	s     string
	bin   []byte
	items []value  // array elements, or map values
	keys  []string // map keys, parallel to items
}

// get returns the value of map key key.
func (v *value) get(key string) (*value, bool) {
	if v.kind != kindMap {
		return nil, false
	}
	for i, k := range v.keys {
		if k == key {
			return &v.items[i], true
		}
	}
	return nil, false
}

func strValue(s string) value        { return value{kind: kindString, s: s} }
func intValue(n int64) value         { return value{kind: kindInt, i: n} }
func boolValue(b bool) value         { return value{kind: kindBool, b: b} }
func arrayValue(items []value) value { return value{kind: kindArray, items: items} }
func binaryValue(b []byte) value     { return value{kind: kindBinary, bin: b} }
func stringsValue(ss []string) value {
	items := make([]value, len(ss))
	for i, s := range ss {
		items[i] = strValue(s)
	}
	return arrayValue(items)
}

// mapBuilder builds a map value in key order.
type mapBuilder struct{ v value }

func newMap(n int) *mapBuilder {
	return &mapBuilder{v: value{kind: kindMap, keys: make([]string, 0, n), items: make([]value, 0, n)}}
}

func (m *mapBuilder) set(key string, v value) *mapBuilder {
	m.v.keys = append(m.v.keys, key)
	m.v.items = append(m.v.items, v)
	return m
}

// decodeMsgpack decodes one complete msgpack value; trailing bytes are an
// error, as for notepack.io.
func decodeMsgpack(b []byte) (value, error) {
	r := bytes.NewReader(b)
	d := msgpack.NewDecoder(r) // a bytes.Reader is read directly, unbuffered
	mr := msgpackReader{d: d, r: r, b: b}
	v, err := mr.value(0)
	if err != nil {
		return value{}, err
	}
	if r.Len() > 0 {
		return value{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, r.Len())
	}
	return v, nil
}

type msgpackReader struct {
	d *msgpack.Decoder
	r *bytes.Reader
	b []byte // what r reads
}

// raw reads the bytes of the string or bin at the read position, checking
// its length against the bytes left before anything is allocated.
func (m msgpackReader) raw(c byte) ([]byte, error) {
	at := len(m.b) - m.r.Len() + 1 // after the code
	size, n := 0, 0
	switch c {
	case msgpcode.Str8, msgpcode.Bin8:
		size = 1
	case msgpcode.Str16, msgpcode.Bin16:
		size = 2
	case msgpcode.Str32, msgpcode.Bin32:
		size = 4
	default:
		n = int(c & msgpcode.FixedStrMask) // fixstr
	}
	if at+size > len(m.b) {
		return nil, fmt.Errorf("%w: truncated length", ErrMalformed)
	}
	for _, x := range m.b[at : at+size] {
		n = n<<8 | int(x)
	}
	at += size
	if n > len(m.b)-at {
		return nil, fmt.Errorf("%w: %d bytes claimed, %d left", ErrMalformed, n, len(m.b)-at)
	}
	_, _ = m.r.Seek(int64(at+n), io.SeekStart)
	return m.b[at : at+n], nil
}

func malformed(err error) error { return fmt.Errorf("%w: %v", ErrMalformed, err) }

func (m msgpackReader) value(depth int) (value, error) {
	if depth > MaxDepth {
		return value{}, ErrTooDeep
	}
	c, err := m.d.PeekCode()
	if err != nil {
		return value{}, malformed(err)
	}
	switch {
	case c == msgpcode.Nil:
		_ = m.d.DecodeNil()
		return value{kind: kindNull}, nil
	case c == msgpcode.False || c == msgpcode.True:
		b, err := m.d.DecodeBool()
		return boolValue(b), err
	case msgpcode.IsFixedNum(c) && c <= msgpcode.PosFixedNumHigh, c == msgpcode.Uint8, c == msgpcode.Uint16, c == msgpcode.Uint32, c == msgpcode.Uint64:
		u, err := m.d.DecodeUint64()
		if err != nil {
			return value{}, malformed(err)
		}
		if u > math.MaxInt64 {
			return value{kind: kindUint, u: u}, nil
		}
		return intValue(int64(u)), nil
	case msgpcode.IsFixedNum(c), c == msgpcode.Int8, c == msgpcode.Int16, c == msgpcode.Int32, c == msgpcode.Int64:
		n, err := m.d.DecodeInt64()
		if err != nil {
			return value{}, malformed(err)
		}
		return intValue(n), nil
	case c == msgpcode.Float || c == msgpcode.Double:
		f, err := m.d.DecodeFloat64()
		if err != nil {
			return value{}, malformed(err)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return value{kind: kindNull}, nil // JSON.stringify writes null
		}
		return value{kind: kindFloat, f: f}, nil
	case msgpcode.IsString(c), msgpcode.IsBin(c):
		b, err := m.raw(c)
		if err != nil {
			return value{}, err
		}
		if msgpcode.IsBin(c) {
			return binaryValue(bytes.Clone(b)), nil
		}
		return strValue(string(b)), nil
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		return m.array(depth)
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		return m.mapValue(depth)
	case msgpcode.IsExt(c), msgpcode.IsFixedExt(c):
		return m.ext()
	}
	return value{}, fmt.Errorf("%w: unknown msgpack code 0x%02x", ErrMalformed, c)
}

// array decodes an array; a length beyond the bytes left is an error before
// anything is allocated (each element takes at least one byte).
func (m msgpackReader) array(depth int) (value, error) {
	n, err := m.d.DecodeArrayLen()
	if err != nil {
		return value{}, malformed(err)
	}
	if n < 0 || n > m.r.Len() {
		return value{}, fmt.Errorf("%w: array of %d elements in %d bytes", ErrMalformed, n, m.r.Len())
	}
	items := make([]value, n)
	for i := range items {
		if items[i], err = m.value(depth + 1); err != nil {
			return value{}, err
		}
	}
	return arrayValue(items), nil
}

func (m msgpackReader) mapValue(depth int) (value, error) {
	n, err := m.d.DecodeMapLen()
	if err != nil {
		return value{}, malformed(err)
	}
	if n < 0 || 2*n > m.r.Len() {
		return value{}, fmt.Errorf("%w: map of %d entries in %d bytes", ErrMalformed, n, m.r.Len())
	}
	v := value{kind: kindMap, keys: make([]string, 0, n), items: make([]value, 0, n)}
	for range n {
		k, err := m.value(depth + 1)
		if err != nil {
			return value{}, err
		}
		key, err := mapKey(k)
		if err != nil {
			return value{}, err
		}
		val, err := m.value(depth + 1)
		if err != nil {
			return value{}, err
		}
		v.keys = append(v.keys, key)
		v.items = append(v.items, val)
	}
	return v, nil
}

// mapKey is the JavaScript property name of a decoded key.
func mapKey(k value) (string, error) {
	switch k.kind {
	case kindString:
		return k.s, nil
	case kindInt:
		return strconv.FormatInt(k.i, 10), nil
	case kindUint:
		return strconv.FormatUint(k.u, 10), nil
	}
	return "", fmt.Errorf("%w: map key of kind %d", ErrMalformed, k.kind)
}

// ext decodes extension 0 (undefined) and -1 (timestamp, a Date).
func (m msgpackReader) ext() (value, error) {
	id, n, err := m.d.DecodeExtHeader()
	if err != nil {
		return value{}, malformed(err)
	}
	if n < 0 || n > m.r.Len() {
		return value{}, fmt.Errorf("%w: extension of %d bytes in %d", ErrMalformed, n, m.r.Len())
	}
	data := make([]byte, n)
	if err := m.d.ReadFull(data); err != nil {
		return value{}, malformed(err)
	}
	switch id {
	case 0:
		return value{kind: kindUndefined}, nil
	case -1:
		t, err := timestamp(data)
		if err != nil {
			return value{}, err
		}
		return strValue(t.UTC().Format("2006-01-02T15:04:05.000Z")), nil
	}
	return value{}, fmt.Errorf("%w: unknown extension %d", ErrMalformed, id)
}

// timestamp decodes the msgpack timestamp extension (32, 64 or 96 bits).
func timestamp(b []byte) (time.Time, error) {
	switch len(b) {
	case 4:
		return time.Unix(int64(be32(b)), 0), nil
	case 8:
		v := uint64(be32(b))<<32 | uint64(be32(b[4:]))
		return time.Unix(int64(v&(1<<34-1)), int64(v>>34)), nil
	case 12:
		sec := int64(uint64(be32(b[4:]))<<32 | uint64(be32(b[8:])))
		return time.Unix(sec, int64(be32(b))), nil
	}
	return time.Time{}, fmt.Errorf("%w: timestamp of %d bytes", ErrMalformed, len(b))
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// encodeMsgpack writes v as notepack.io would: integral numbers in their
// smallest integer format, other numbers as float64.
func encodeMsgpack(v value) ([]byte, error) {
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	e.UseCompactInts(true)
	e.UseCompactFloats(true)
	if err := writeMsgpack(e, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeMsgpack(e *msgpack.Encoder, v value) error {
	switch v.kind {
	case kindNull, kindUndefined:
		return e.EncodeNil()
	case kindBool:
		return e.EncodeBool(v.b)
	case kindInt:
		return e.EncodeInt(v.i)
	case kindUint:
		return e.EncodeUint(v.u)
	case kindFloat:
		return e.EncodeFloat64(v.f)
	case kindString:
		return e.EncodeString(v.s)
	case kindBinary:
		return e.EncodeBytes(v.bin)
	case kindArray:
		if err := e.EncodeArrayLen(len(v.items)); err != nil {
			return err
		}
		for _, it := range v.items {
			if err := writeMsgpack(e, it); err != nil {
				return err
			}
		}
		return nil
	case kindMap:
		if err := e.EncodeMapLen(len(v.keys)); err != nil {
			return err
		}
		for i, k := range v.keys {
			if err := e.EncodeString(k); err != nil {
				return err
			}
			if err := writeMsgpack(e, v.items[i]); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%w: value kind %d", ErrUnsupported, v.kind)
}
