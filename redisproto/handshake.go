package redisproto

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"github.com/stickyd/stickyd/socketio"
)

// WireHandshake is socket.handshake as Node's fetchSockets answers carry
// it: headers with lowercase names and string values (set-cookie an
// array), query values strings (arrays when repeated).
type WireHandshake struct {
	Headers map[string]any  `json:"headers"`
	Time    string          `json:"time"`
	Address string          `json:"address"`
	XDomain bool            `json:"xdomain"`
	Secure  bool            `json:"secure"`
	Issued  int64           `json:"issued"`
	URL     string          `json:"url"`
	Query   map[string]any  `json:"query"`
	Auth    json.RawMessage `json:"auth"`
}

// NewWireHandshake converts a handshake to Node's shape: header names in
// lowercase, repeated values joined as Node's http module joins them
// ("; " for cookie, ", " for others, an array for set-cookie); a query
// value a string, an array when repeated.
func NewWireHandshake(h socketio.Handshake) WireHandshake {
	out := WireHandshake{
		Headers: make(map[string]any, len(h.Headers)),
		Time:    h.Time, Address: h.Address, XDomain: h.XDomain, Secure: h.Secure,
		Issued: h.Issued, URL: h.URL,
		Query: make(map[string]any, len(h.Query)),
		Auth:  h.Auth,
	}
	for k, vs := range h.Headers {
		name := strings.ToLower(k)
		switch {
		case name == "set-cookie":
			out.Headers[name] = vs
		case name == "cookie":
			out.Headers[name] = strings.Join(vs, "; ")
		default:
			out.Headers[name] = strings.Join(vs, ", ")
		}
	}
	for k, vs := range h.Query {
		if len(vs) == 1 {
			out.Query[k] = vs[0]
		} else {
			out.Query[k] = vs
		}
	}
	if len(out.Auth) == 0 || !json.Valid(out.Auth) {
		out.Auth = json.RawMessage("{}")
	}
	return out
}

// handshakeFromJSON reads a Node-shaped handshake into socketio's form;
// header and query values may be strings, arrays or numbers.
func handshakeFromJSON(raw []byte) (socketio.Handshake, error) {
	var w struct {
		Headers map[string]json.RawMessage `json:"headers"`
		Time    string                     `json:"time"`
		Address string                     `json:"address"`
		XDomain bool                       `json:"xdomain"`
		Secure  bool                       `json:"secure"`
		Issued  float64                    `json:"issued"`
		URL     string                     `json:"url"`
		Query   map[string]json.RawMessage `json:"query"`
		Auth    json.RawMessage            `json:"auth"`
	}
	var h socketio.Handshake
	if err := json.Unmarshal(raw, &w); err != nil {
		return h, fmt.Errorf("%w: handshake: %v", ErrMalformed, err)
	}
	h = socketio.Handshake{Time: w.Time, Address: w.Address, XDomain: w.XDomain, Secure: w.Secure,
		Issued: int64(w.Issued), URL: w.URL, Auth: w.Auth, Headers: http.Header{}, Query: url.Values{}}
	for k, v := range w.Headers {
		h.Headers[textproto.CanonicalMIMEHeaderKey(k)] = jsonStrings(v)
	}
	for k, v := range w.Query {
		h.Query[k] = jsonStrings(v)
	}
	if len(h.Auth) == 0 {
		h.Auth = json.RawMessage("{}")
	}
	return h, nil
}

// jsonStrings reads a string, a number or an array of them (one level:
// anything nested deeper is dropped, so that a hostile message costs
// linear time, not a re-parse per nesting level).
func jsonStrings(raw json.RawMessage) []string {
	if s, ok := jsonScalar(raw); ok {
		return []string{s}
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, it := range list {
		if s, ok := jsonScalar(it); ok {
			out = append(out, s)
		}
	}
	return out
}

// jsonScalar reads a JSON string or number as a string.
func jsonScalar(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return strconv.FormatFloat(f, 'f', -1, 64), true
	}
	return "", false
}
