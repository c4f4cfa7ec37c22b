package redisproto

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

var sentinels = []error{ErrMalformed, ErrTooDeep, ErrUnknownType, ErrForeignNamespace, ErrNotEvent, ErrUnsupported}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func deepArray(n int) []byte {
	b := bytes.Repeat([]byte{0x91}, n)
	return append(b, 0xc0)
}

// What each bad input gets: an error wrapping the named sentinel.
func TestBadBroadcasts(t *testing.T) {
	good, err := hexMsg("93a641634c70366a83a47479706502a46461746193a568656c6c6fa5776f726c6401a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		msg  []byte
		nsp  string
		want error
	}{
		{"empty", nil, "/", ErrMalformed},
		{"garbage", []byte("hello world"), "/", ErrMalformed},
		{"truncated", good[:len(good)-3], "/", ErrMalformed},
		{"trailing bytes", append(append([]byte{}, good...), 0x01), "/", ErrMalformed},
		{"array32 claiming 4G elements", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0}, "/", ErrMalformed},
		{"str32 claiming 4 GB", []byte{0x93, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, "/", ErrMalformed},
		{"bin32 claiming 3 GB", []byte{0xc6, 0xcd, 0x41, 0xb4, 0xc9, 0x60, 0xc8}, "/", ErrMalformed},
		{"map32 claiming 4G entries", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, "/", ErrMalformed},
		{"nested too deep", deepArray(MaxDepth + 10), "/", ErrTooDeep},
		{"unknown extension", []byte{0x93, 0xd4, 0x05, 0x00, 0xc0, 0xc0}, "/", ErrMalformed},
		{"never-used code 0xc1", []byte{0xc1}, "/", ErrMalformed},
		{"not an array", []byte{0x80}, "/", ErrMalformed},
		{"foreign namespace", good, "/custom", ErrForeignNamespace},
		{"map key of kind array", []byte{0x81, 0x90, 0xc0}, "/", ErrMalformed},
	}
	for _, c := range cases {
		_, err := DecodeBroadcast(c.msg, c.nsp)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// An ACK packet (type 3) is not a broadcast.
	ack := bytes.Replace(good, []byte{0xa4, 't', 'y', 'p', 'e', 0x02}, []byte{0xa4, 't', 'y', 'p', 'e', 0x03}, 1)
	if _, err := DecodeBroadcast(ack, "/"); !errors.Is(err, ErrNotEvent) {
		t.Errorf("ack packet: %v", err)
	}
}

// notepack.io 2.x writes undefined as extension 0: null in an array, no
// property in a map. NaN and infinities become null.
func TestUndefinedAndNaN(t *testing.T) {
	// ["u", {"event":"ev", ...}] built by hand: [uid, {type:2, data:["ev", undefined, {"k": undefined, "x": NaN}], nsp:"/"}, {rooms:[], except:[]}]
	msg := []byte{0x93, 0xa1, 'u', 0x83,
		0xa4, 't', 'y', 'p', 'e', 0x02,
		0xa4, 'd', 'a', 't', 'a', 0x93, 0xa2, 'e', 'v', 0xd4, 0x00, 0x00,
		0x82, 0xa1, 'k', 0xd4, 0x00, 0x00, 0xa1, 'x', 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0,
		0xa3, 'n', 's', 'p', 0xa1, '/',
		0x82, 0xa5, 'r', 'o', 'o', 'm', 's', 0x90, 0xa6, 'e', 'x', 'c', 'e', 'p', 't', 0x90}
	b, err := DecodeBroadcast(msg, "/")
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Packet.Encoded().Text; got != `2["ev",null,{"x":null}]` {
		t.Fatalf("packet %s", got)
	}
}

func TestBadRequests(t *testing.T) {
	cases := []struct {
		name, msg string
		want      error
	}{
		{"not JSON", `{"uid":`, ErrMalformed},
		{"no type", `{"uid":"a"}`, ErrMalformed},
		{"type 10", `{"uid":"a","type":10}`, ErrUnknownType},
		{"type -1", `{"uid":"a","type":-1}`, ErrUnknownType},
		{"type a string", `{"type":"1"}`, ErrMalformed},
		{"uid an object", `{"uid":{},"type":1}`, ErrMalformed},
		{"rooms not an array", `{"type":2,"opts":{"rooms":"a","except":[]},"rooms":["x"]}`, ErrMalformed},
		{"join without target", `{"type":2,"rooms":["x"]}`, ErrMalformed},
		{"fetch without opts", `{"uid":"a","requestId":"b","type":5}`, ErrMalformed},
		{"emit without data", `{"uid":"a","type":6}`, ErrMalformed},
		{"emit with empty data", `{"uid":"a","type":6,"data":[]}`, ErrMalformed},
		{"broadcast without packet", `{"uid":"a","requestId":"b","type":7,"opts":{"rooms":[],"except":[]}}`, ErrMalformed},
		{"broadcast of another namespace", `{"uid":"a","requestId":"b","type":7,"packet":{"type":2,"data":["e"],"nsp":"/x"},"opts":{}}`, ErrForeignNamespace},
		{"an array", `[1,2]`, ErrMalformed},
		{"msgpack garbage", "\x93\xa1", ErrMalformed},
		{"deep JSON", `{"type":6,"data":["e",` + strings.Repeat("[", MaxDepth+5) + strings.Repeat("]", MaxDepth+5) + `]}`, ErrTooDeep},
	}
	for _, c := range cases {
		_, err := DecodeRequest([]byte(c.msg), "/")
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestBadResponses(t *testing.T) {
	cases := []struct {
		name, msg string
		want      error
	}{
		{"no requestId", `{"type":8,"clientCount":1}`, ErrMalformed},
		{"negative count", `{"type":8,"requestId":"a","clientCount":-1}`, ErrMalformed},
		{"type 42", `{"type":42,"requestId":"a"}`, ErrUnknownType},
		{"sockets not an array", `{"requestId":"a","sockets":{}}`, ErrMalformed},
	}
	for _, c := range cases {
		_, err := DecodeResponse([]byte(c.msg))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	r, err := DecodeResponse([]byte(`{"requestId":"a","sockets":[{"rooms":[]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.FetchedSockets(); !errors.Is(err, ErrMalformed) {
		t.Errorf("socket without id: %v", err)
	}
}

// Bad input: a handshake header or query value nested deeper than an array
// of strings and numbers loses what is nested (Node never sends it) and
// costs linear time: 9000 levels took 8 s when each level was re-parsed.
func TestHandshakeNestedValues(t *testing.T) {
	deep := strings.Repeat("[", 9000) + strings.Repeat("]", 9000)
	raw := []byte(`{"headers":{"x-deep":` + deep + `,"x-list":["a",1,["b"],{"c":1}],"x-num":2.5},"query":{"q":` + deep + `}}`)
	start := time.Now()
	h, err := handshakeFromJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("decoding took %v", d)
	}
	if got := h.Headers["X-List"]; len(got) != 2 || got[0] != "a" || got[1] != "1" {
		t.Fatalf("x-list %q, want [a 1]", got)
	}
	if got := h.Headers.Get("X-Num"); got != "2.5" {
		t.Fatalf("x-num %q", got)
	}
	if len(h.Headers["X-Deep"]) != 0 || len(h.Query["q"]) != 0 {
		t.Fatalf("nested values kept: %q %q", h.Headers["X-Deep"], h.Query["q"])
	}
}
