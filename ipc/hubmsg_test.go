package ipc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

func hubRoundTripCases() []HubMessage {
	return []HubMessage{
		{Type: HubMembers, Instance: 3, Instances: []uint32{1, 3, 7}},
		{Type: HubMembers, Instance: 1},
		{Type: HubRooms, Nsp: "/", Deltas: []RoomDelta{{Op: NspJoin}, {Op: RoomAdd, Room: "a"}, {Op: RoomDel, Room: "béta"}}},
		{Type: HubRooms, Nsp: "/chat", Deltas: []RoomDelta{{Op: NspLeave}}},
		{Type: HubRooms, Nsp: "/x"},
		{Type: HubBroadcast, Flags: HubVolatile, Nsp: "/", Rooms: []string{"r1", ""}, Payload: []byte("packet")},
		{Type: HubBroadcast, Instance: 9, Nsp: "/"},
		{Type: HubRequest, Instance: 2, ReqID: 1 << 40, Nsp: "/n", Rooms: []string{"x"}, Payload: []byte{0, 1, 2}},
		{Type: HubRouted, ReqID: 5, Instances: []uint32{2, 4}},
		{Type: HubRouted, ReqID: 6},
		{Type: HubResponse, Instance: 4, ReqID: 5, Flags: HubFinal, Payload: []byte(`[1]`)},
		{Type: HubResponse, Instance: 4, ReqID: 5},
		{Type: HubBroadcast, Flags: HubJoin, Nsp: "/", Rooms: []string{"r"}, JoinRooms: []string{"j1", "j2"}, Payload: []byte("op")},
		{Type: HubBroadcast, Flags: HubJoin | HubVolatile, Nsp: "/"},
		{Type: HubSync, ReqID: 99},
	}
}

func TestHubMessageRoundTrip(t *testing.T) {
	for _, want := range hubRoundTripCases() {
		t.Run(want.Type.String(), func(t *testing.T) {
			b, err := want.AppendBinary([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatalf("AppendBinary lost the prefix: %q", b)
			}
			got, err := DecodeHubMessage(byte(want.Type), b[len("prefix"):])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestHubMessageWireLayout(t *testing.T) {
	m := HubMessage{Type: HubBroadcast, Instance: 0x01020304, Flags: HubVolatile, Nsp: "/", Rooms: []string{"ab"}, Payload: []byte("P")}
	got, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{4, 3, 2, 1, 1, 1, 0, 0, 0, '/', 1, 0, 0, 0, 2, 0, 0, 0, 'a', 'b', 'P'}
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
}

func TestDecodeHubMessageErrors(t *testing.T) {
	le := binary.LittleEndian
	rooms := func(ops ...byte) []byte {
		b := appendString(nil, "/")
		b = le.AppendUint32(b, uint32(len(ops)))
		for _, op := range ops {
			b = append(b, op)
			b = appendString(b, "")
		}
		return b
	}
	tests := []struct {
		name    string
		typ     byte
		payload []byte
		want    error
	}{
		{"hello is not a hub message", FrameHello, make([]byte, 40), ErrMalformed},
		{"unknown type", 99, nil, ErrMalformed},
		{"empty members", byte(HubMembers), nil, ErrMalformed},
		{"members count past end", byte(HubMembers), le.AppendUint32(le.AppendUint32(nil, 1), 1000), ErrMalformed},
		{"members trailing", byte(HubMembers), append(le.AppendUint32(le.AppendUint32(nil, 1), 0), 0), ErrMalformed},
		{"rooms bad op", byte(HubRooms), rooms(9), ErrMalformed},
		{"rooms op zero", byte(HubRooms), rooms(0), ErrMalformed},
		{"rooms nsp op with room", byte(HubRooms), append(le.AppendUint32(appendString(nil, "/"), 1), append([]byte{byte(NspJoin)}, appendString(nil, "r")...)...), ErrMalformed},
		{"rooms huge count", byte(HubRooms), le.AppendUint32(appendString(nil, "/"), 1<<31), ErrMalformed},
		{"broadcast short", byte(HubBroadcast), []byte{0, 0, 0}, ErrMalformed},
		{"broadcast nsp past end", byte(HubBroadcast), append(make([]byte, 5), 9, 0, 0, 0), ErrMalformed},
		{"broadcast room past end", byte(HubBroadcast), append(le.AppendUint32(appendString(make([]byte, 5), "/"), 1), 5, 0, 0, 0), ErrMalformed},
		{"request short", byte(HubRequest), make([]byte, 12), ErrMalformed},
		{"routed trailing", byte(HubRouted), make([]byte, 13), ErrMalformed},
		{"response short", byte(HubResponse), make([]byte, 12), ErrMalformed},
		{"join rooms past end", byte(HubBroadcast), append(le.AppendUint32(appendString([]byte{0, 0, 0, 0, HubJoin}, "/"), 0), 3, 0, 0, 0), ErrMalformed},
		{"sync short", byte(HubSync), make([]byte, 7), ErrMalformed},
		{"sync trailing", byte(HubSync), make([]byte, 9), ErrMalformed},
		{"oversized", byte(HubResponse), make([]byte, MaxHubFrame), ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeHubMessage(tt.typ, tt.payload)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestHubMessageAppendErrors(t *testing.T) {
	tests := []struct {
		name string
		m    HubMessage
		want error
	}{
		{"unknown type", HubMessage{Type: 3}, ErrMalformed},
		{"bad op", HubMessage{Type: HubRooms, Deltas: []RoomDelta{{Op: 7}}}, ErrMalformed},
		{"nsp op with room", HubMessage{Type: HubRooms, Deltas: []RoomDelta{{Op: NspLeave, Room: "r"}}}, ErrMalformed},
		{"too large", HubMessage{Type: HubBroadcast, Payload: make([]byte, MaxHubFrame)}, ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.m.AppendBinary([]byte("keep"))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if string(got) != "keep" {
				t.Fatalf("got %q after error, want the input unchanged", got)
			}
		})
	}
}

func TestParseHubRoute(t *testing.T) {
	tests := []struct {
		m         HubMessage
		wantRooms []string
	}{
		{HubMessage{Type: HubBroadcast, Flags: HubVolatile, Nsp: "/a", Rooms: []string{"x", "", "yz"}, Payload: []byte("p")}, []string{"x", "", "yz"}},
		{HubMessage{Type: HubRequest, ReqID: 77, Nsp: "/", Payload: []byte("p")}, nil},
		{HubMessage{Type: HubBroadcast, Flags: HubJoin, Nsp: "/", Rooms: []string{"t"}, JoinRooms: []string{"j", "k"}, Payload: []byte("p")}, []string{"t"}},
	}
	for _, tt := range tests {
		b, err := tt.m.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseHubRoute(byte(tt.m.Type), b)
		if err != nil {
			t.Fatal(err)
		}
		var rooms []string
		for room, ok := r.NextRoom(); ok; room, ok = r.NextRoom() {
			rooms = append(rooms, string(room))
		}
		if got, want := string(r.Nsp), tt.m.Nsp; got != want {
			t.Errorf("nsp: got %q, want %q", got, want)
		}
		if got, want := r.Flags, tt.m.Flags; got != want {
			t.Errorf("flags: got %d, want %d", got, want)
		}
		if got, want := r.ReqID, tt.m.ReqID; got != want {
			t.Errorf("reqid: got %d, want %d", got, want)
		}
		if got, want := r.NRoom, len(tt.wantRooms); got != want {
			t.Errorf("NRoom: got %d, want %d", got, want)
		}
		if !reflect.DeepEqual(rooms, tt.wantRooms) {
			t.Errorf("rooms: got %q, want %q", rooms, tt.wantRooms)
		}
		var joins []string
		for room, ok := r.NextJoinRoom(); ok; room, ok = r.NextJoinRoom() {
			joins = append(joins, string(room))
		}
		if !reflect.DeepEqual(joins, tt.m.JoinRooms) || r.NJoin != len(tt.m.JoinRooms) {
			t.Errorf("join rooms: got %q (%d), want %q", joins, r.NJoin, tt.m.JoinRooms)
		}
		SetHubInstance(b, 42)
		got, err := DecodeHubMessage(byte(tt.m.Type), b)
		if err != nil || got.Instance != 42 {
			t.Errorf("after SetHubInstance: got %d, %v, want 42", got.Instance, err)
		}
	}
	if _, err := ParseHubRoute(byte(HubResponse), make([]byte, 20)); !errors.Is(err, ErrMalformed) {
		t.Errorf("response route: got %v, want ErrMalformed", err)
	}
	if _, err := ParseHubRoute(byte(HubBroadcast), []byte{0, 0, 0, 0, 0, 1, 0, 0, 0}); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated route: got %v, want ErrMalformed", err)
	}
	if _, err := ParseHubResponseTarget(make([]byte, 12)); !errors.Is(err, ErrMalformed) {
		t.Errorf("short response: got %v, want ErrMalformed", err)
	}
}

func TestParseHubRouteNoAlloc(t *testing.T) {
	m := HubMessage{Type: HubBroadcast, Nsp: "/", Rooms: []string{"a", "b"}, Payload: make([]byte, 64)}
	b, _ := m.AppendBinary(nil)
	n := testing.AllocsPerRun(100, func() {
		r, _ := ParseHubRoute(byte(HubBroadcast), b)
		for _, ok := r.NextRoom(); ok; _, ok = r.NextRoom() {
		}
	})
	if n != 0 {
		t.Fatalf("got %v allocations, want 0", n)
	}
}

// FuzzDecodeHubMessage checks that DecodeHubMessage never panics, that what
// it accepts re-encodes to the same bytes, and that ParseHubRoute agrees
// with it on the frames that carry a route.
func FuzzDecodeHubMessage(f *testing.F) {
	for _, m := range hubRoundTripCases() {
		b, err := m.AppendBinary(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(m.Type), b)
	}
	f.Fuzz(func(t *testing.T, typ byte, payload []byte) {
		m, err := DecodeHubMessage(typ, payload)
		r, rerr := ParseHubRoute(typ, payload)
		if typ == byte(HubBroadcast) || typ == byte(HubRequest) {
			if (err == nil) != (rerr == nil) {
				t.Fatalf("DecodeHubMessage: %v, ParseHubRoute: %v", err, rerr)
			}
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		b, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encode of %+v: %v", m, err)
		}
		if !bytes.Equal(b, payload) {
			t.Fatalf("re-encode: got % x, want % x", b, payload)
		}
		if rerr == nil {
			var rooms []string
			for room, ok := r.NextRoom(); ok; room, ok = r.NextRoom() {
				rooms = append(rooms, string(room))
			}
			if len(rooms) != len(m.Rooms) || r.NJoin != len(m.JoinRooms) || string(r.Nsp) != m.Nsp || r.Flags != m.Flags || r.ReqID != m.ReqID {
				t.Fatalf("route %+v %q disagrees with %+v", r, rooms, m)
			}
		}
	})
}
