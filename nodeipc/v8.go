package nodeipc

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// V8 ValueSerializer tags of the supported subset.
const (
	tagVersion     = 0xFF
	tagPadding     = 0x00
	tagVerifyCount = '?'
	tagUndefined   = '_'
	tagNull        = '0'
	tagTrue        = 'T'
	tagFalse       = 'F'
	tagInt32       = 'I'
	tagUint32      = 'U'
	tagDouble      = 'N'
	tagOneByteStr  = '"'
	tagTwoByteStr  = 'c'
	tagUTF8Str     = 'S'
	tagObject      = 'o'
	tagEndObject   = '{'
	tagDenseArray  = 'A'
	tagEndDense    = '$'
	tagSparseArray = 'a'
	tagEndSparse   = '@'
	tagHole        = '-'
	tagHostObject  = '\\'
)

// v8Version is the format version EncodeV8 writes: Node 20 and 22 write
// and read 15.
const v8Version = 15

// maxDepth bounds nesting, so a hostile body cannot exhaust the stack.
const maxDepth = 64

// Node's host object for an ArrayBufferView: a uint32 0 (Node's own
// marker), the view's type index (10 is Buffer), its byte length, bytes.
const (
	hostArrayBufferView = 0
	hostTypeBuffer      = 10
	hostTypeMax         = 12 // BigUint64Array, the last index Node writes
)

// DecodeV8 decodes one V8-serialized body (header included) into Go
// values: objects as map[string]any (integer keys as their decimal
// string), arrays as []any (holes as nil), strings, numbers as float64,
// booleans, null and undefined as nil, Buffers and typed arrays as []byte
// (their raw bytes). Any other tag is ErrUnsupported; a body that ends
// early or has bytes left over is ErrMalformed.
func DecodeV8(body []byte) (any, error) {
	d := &v8Decoder{b: body}
	if len(body) < 2 || body[0] != tagVersion {
		return nil, fmt.Errorf("%w: no V8 header", ErrMalformed)
	}
	d.i = 1
	v, err := d.varint()
	if err != nil {
		return nil, err
	}
	if v < 13 || v > 15 {
		return nil, fmt.Errorf("%w: V8 format version %d", ErrUnsupported, v)
	}
	val, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.i != len(d.b) {
		return nil, fmt.Errorf("%w: %d bytes after the value", ErrMalformed, len(d.b)-d.i)
	}
	return val, nil
}

type v8Decoder struct {
	b []byte
	i int
}

func (d *v8Decoder) byte() (byte, error) {
	if d.i >= len(d.b) {
		return 0, fmt.Errorf("%w: V8 body ends early", ErrMalformed)
	}
	c := d.b[d.i]
	d.i++
	return c, nil
}

func (d *v8Decoder) varint() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		c, err := d.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: varint too long", ErrMalformed)
}

func (d *v8Decoder) bytes(n uint64) ([]byte, error) {
	if n > uint64(len(d.b)-d.i) {
		return nil, fmt.Errorf("%w: V8 body ends early", ErrMalformed)
	}
	s := d.b[d.i : d.i+int(n)]
	d.i += int(n)
	return s, nil
}

// tag returns the next tag, skipping padding and object-count checks.
func (d *v8Decoder) tag() (byte, error) {
	for {
		c, err := d.byte()
		if err != nil || c != tagPadding && c != tagVerifyCount {
			return c, err
		}
		if c == tagVerifyCount {
			if _, err := d.varint(); err != nil {
				return 0, err
			}
		}
	}
}

func (d *v8Decoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrUnsupported, maxDepth)
	}
	t, err := d.tag()
	if err != nil {
		return nil, err
	}
	switch t {
	case tagUndefined, tagNull, tagHole:
		return nil, nil
	case tagTrue:
		return true, nil
	case tagFalse:
		return false, nil
	case tagInt32:
		v, err := d.varint()
		return float64(int32(uint32(v>>1) ^ -uint32(v&1))), err
	case tagUint32:
		v, err := d.varint()
		return float64(uint32(v)), err
	case tagDouble:
		b, err := d.bytes(8)
		if err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	case tagOneByteStr, tagTwoByteStr, tagUTF8Str:
		return d.stringBody(t)
	case tagObject:
		return d.object(depth, tagEndObject)
	case tagDenseArray:
		return d.denseArray(depth)
	case tagSparseArray:
		return d.sparseArray(depth)
	case tagHostObject:
		return d.hostObject()
	}
	return nil, fmt.Errorf("%w: tag %q at offset %d", ErrUnsupported, t, d.i-1)
}

func (d *v8Decoder) stringBody(t byte) (string, error) {
	n, err := d.varint()
	if err != nil {
		return "", err
	}
	b, err := d.bytes(n)
	if err != nil {
		return "", err
	}
	switch t {
	case tagOneByteStr: // Latin-1
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r), nil
	case tagTwoByteStr:
		if len(b)%2 != 0 {
			return "", fmt.Errorf("%w: odd two-byte string length", ErrMalformed)
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		return string(utf16.Decode(u)), nil
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), nil
}

// properties reads key/value pairs until end, then the end tag's property
// count, into m.
func (d *v8Decoder) properties(depth int, end byte, m map[string]any) error {
	for {
		t, err := d.tag()
		if err != nil {
			return err
		}
		if t == end {
			_, err := d.varint()
			return err
		}
		d.i--
		k, err := d.value(depth + 1)
		if err != nil {
			return err
		}
		var key string
		switch k := k.(type) {
		case string:
			key = k
		case float64:
			key = strconv.FormatFloat(k, 'f', -1, 64)
		default:
			return fmt.Errorf("%w: object key of type %T", ErrMalformed, k)
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return err
		}
		m[key] = v
	}
}

func (d *v8Decoder) object(depth int, end byte) (map[string]any, error) {
	m := make(map[string]any)
	return m, d.properties(depth, end, m)
}

func (d *v8Decoder) denseArray(depth int) ([]any, error) {
	n, err := d.varint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d.b)-d.i) { // every element takes a byte at least
		return nil, fmt.Errorf("%w: array longer than its body", ErrMalformed)
	}
	a := make([]any, n)
	for i := range a {
		if a[i], err = d.value(depth + 1); err != nil {
			return nil, err
		}
	}
	extra := make(map[string]any)
	if err := d.properties(depth, tagEndDense, extra); err != nil {
		return nil, err
	}
	_, err = d.varint() // length again
	return a, err
}

func (d *v8Decoder) sparseArray(depth int) ([]any, error) {
	n, err := d.varint()
	if err != nil {
		return nil, err
	}
	if n > 1<<20 {
		return nil, fmt.Errorf("%w: sparse array of length %d", ErrUnsupported, n)
	}
	props := make(map[string]any)
	if err := d.properties(depth, tagEndSparse, props); err != nil {
		return nil, err
	}
	if _, err := d.varint(); err != nil {
		return nil, err
	}
	a := make([]any, n)
	for k, v := range props {
		if i, err := strconv.ParseUint(k, 10, 32); err == nil && i < n {
			a[i] = v
		}
	}
	return a, nil
}

func (d *v8Decoder) hostObject() ([]byte, error) {
	kind, err := d.varint()
	if err != nil {
		return nil, err
	}
	if kind != hostArrayBufferView {
		return nil, fmt.Errorf("%w: host object kind %d", ErrUnsupported, kind)
	}
	typ, err := d.varint()
	if err != nil {
		return nil, err
	}
	if typ > hostTypeMax {
		return nil, fmt.Errorf("%w: typed array kind %d", ErrUnsupported, typ)
	}
	n, err := d.varint()
	if err != nil {
		return nil, err
	}
	b, err := d.bytes(n)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

// EncodeV8 serializes v, header included, in the subset DecodeV8 reads:
// nil (null), bool, string, float64, int, []byte (a Node Buffer), []any,
// map[string]any (keys in sorted order). Any other type is ErrUnsupported.
func EncodeV8(v any) ([]byte, error) {
	b := []byte{tagVersion, v8Version}
	return appendV8(b, v, 0)
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendV8(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrUnsupported, maxDepth)
	}
	switch v := v.(type) {
	case nil:
		return append(b, tagNull), nil
	case bool:
		if v {
			return append(b, tagTrue), nil
		}
		return append(b, tagFalse), nil
	case int:
		return appendNumber(b, float64(v)), nil
	case float64:
		return appendNumber(b, v), nil
	case string:
		return appendString(b, v), nil
	case []byte:
		b = append(b, tagHostObject, hostArrayBufferView, hostTypeBuffer)
		b = appendVarint(b, uint64(len(v)))
		return append(b, v...), nil
	case []any:
		b = appendVarint(append(b, tagDenseArray), uint64(len(v)))
		var err error
		for _, e := range v {
			if b, err = appendV8(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		b = appendVarint(append(b, tagEndDense), 0)
		return appendVarint(b, uint64(len(v))), nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, tagObject)
		var err error
		for _, k := range keys {
			b = appendString(b, k)
			if b, err = appendV8(b, v[k], depth+1); err != nil {
				return nil, err
			}
		}
		return appendVarint(append(b, tagEndObject), uint64(len(keys))), nil
	}
	return nil, fmt.Errorf("%w: Go type %T", ErrUnsupported, v)
}

func appendNumber(b []byte, f float64) []byte {
	if f == math.Trunc(f) && f >= math.MinInt32 && f <= math.MaxInt32 && !(f == 0 && math.Signbit(f)) {
		i := int32(f)
		return appendVarint(append(b, tagInt32), uint64(uint32(i<<1)^uint32(i>>31)))
	}
	b = append(b, tagDouble)
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

// appendString writes s as V8 does: one byte per character when every
// character is Latin-1, UTF-16LE otherwise. Invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	latin1 := true
	for _, r := range s {
		if r > 0xFF || r == utf8.RuneError {
			latin1 = false
			break
		}
	}
	if latin1 {
		b = appendVarint(append(b, tagOneByteStr), uint64(utf8.RuneCountInString(s)))
		for _, r := range s {
			b = append(b, byte(r))
		}
		return b
	}
	u := utf16.Encode([]rune(s))
	b = appendVarint(append(b, tagTwoByteStr), uint64(2*len(u)))
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return b
}
