package socketio

import (
	"encoding/json"
)

// splitArray returns the elements of the JSON array b as raw messages that
// share b's memory (b must not change afterwards), or ok=false when b is not
// a valid JSON array. It validates once and splits in one pass, where
// json.Unmarshal into []json.RawMessage validates twice and copies each
// element: this runs for every event and ack a server receives.
func splitArray(b []byte) (elems []json.RawMessage, ok bool) {
	if !json.Valid(b) {
		return nil, false
	}
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return []json.RawMessage{}, true
	}
	depth, start, inString := 0, i, false
	elems = make([]json.RawMessage, 0, 4) // most events have a few arguments
	for ; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++ // the escaped byte cannot end the string
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
		case ']', '}':
			if depth == 0 { // the closing bracket of the array
				return append(elems, json.RawMessage(trimSpace(b[start:i]))), true
			}
			depth--
		case ',':
			if depth == 0 {
				elems = append(elems, json.RawMessage(trimSpace(b[start:i])))
				start = skipSpace(b, i+1)
			}
		}
	}
	return nil, false // unreachable for valid JSON
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
