package socketio

import (
	"bytes"
	"encoding/json"
)

// marshalJSON encodes v the way JavaScript's JSON.stringify does for the
// values Go can express: no HTML escaping and U+2028/U+2029 left raw.
// A json.RawMessage is returned as is (it is the caller's JSON, passed
// through untouched so object keys keep their order).
func marshalJSON(v any) ([]byte, error) {
	if raw, ok := v.(json.RawMessage); ok {
		if raw == nil {
			return []byte("null"), nil
		}
		return raw, nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	return unescapeLineSeparators(out), nil
}

// unescapeLineSeparators turns the escapes \u2028 and \u2029 that
// encoding/json always writes back into the raw characters, as
// JSON.stringify leaves them. Every backslash in encoder output starts an
// escape inside a string, so a left-to-right scan is exact.
func unescapeLineSeparators(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u202`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' || i+1 >= len(b) {
			out = append(out, c)
			continue
		}
		if b[i+1] == 'u' && i+5 < len(b) && string(b[i+2:i+5]) == "202" && (b[i+5] == '8' || b[i+5] == '9') {
			if b[i+5] == '8' {
				out = append(out, "\u2028"...)
			} else {
				out = append(out, "\u2029"...)
			}
			i += 5
			continue
		}
		out = append(out, c, b[i+1])
		i++
	}
	return out
}
