package admin

import (
	"encoding/json"
	"net/url"
	"time"

	"github.com/stickyd/stickyd/socketio"
)

// socketView is a socket as the UI shows it (the "serialize" shape of the
// Node package).
type socketView struct {
	ID        string        `json:"id"`
	ClientID  string        `json:"clientId"`
	Transport string        `json:"transport"`
	Nsp       string        `json:"nsp"`
	Data      any           `json:"data"`
	Handshake handshakeView `json:"handshake"`
	Rooms     []string      `json:"rooms"`
}

// handshakeView is the handshake without auth (never sent to the UI).
type handshakeView struct {
	Address string            `json:"address"`
	Headers map[string]string `json:"headers"`
	Query   url.Values        `json:"query"`
	Issued  int64             `json:"issued"`
	Secure  bool              `json:"secure"`
	Time    string            `json:"time"`
	URL     string            `json:"url"`
	XDomain bool              `json:"xdomain"`
}

// viewOf describes s. Its data is the app's data marshalled to JSON ({}
// when unset or not marshallable; an admin login is never shown).
func viewOf(s *socketio.Socket, nsp string) socketView {
	h := s.Handshake()
	headers := make(map[string]string, len(h.Headers))
	for k, v := range h.Headers {
		if len(v) > 0 {
			headers[lowerASCII(k)] = v[0]
		}
	}
	address := h.Address // shown as the Node package does: a proxy's header first
	if fwd := h.Headers.Get("Cf-Connecting-Ip"); fwd != "" {
		address = fwd
	} else if fwd := h.Headers.Get("X-Forwarded-For"); fwd != "" {
		address = fwd
	}
	return socketView{
		ID:        s.ID(),
		ClientID:  s.Conn().ID(),
		Transport: s.Conn().Transport(),
		Nsp:       nsp,
		Data:      dataOf(s.Data()),
		Rooms:     s.Rooms(),
		Handshake: handshakeView{
			Address: address, Headers: headers, Query: h.Query, Issued: h.Issued,
			Secure: h.Secure, Time: h.Time, URL: h.URL, XDomain: h.XDomain,
		},
	}
}

// dataOf is v as the UI may show it.
func dataOf(v any) any {
	if _, login := v.(loginData); login || v == nil {
		return struct{}{}
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return struct{}{}
	}
	return json.RawMessage(raw)
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// jsDate formats t as JavaScript's Date.toJSON does.
func jsDate(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// decodeViews reads one server's answer to "admin:sockets": its list of
// sockets, possibly wrapped in the ack's argument array. Anything else is
// bad input from another server and yields nothing.
func decodeViews(raw json.RawMessage) []json.RawMessage {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	if len(list) == 1 && len(list[0]) > 0 && list[0][0] == '[' {
		var inner []json.RawMessage
		if json.Unmarshal(list[0], &inner) == nil {
			return inner
		}
	}
	return list
}
