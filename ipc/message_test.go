package ipc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func secret(b byte) (s [32]byte) {
	for i := range s {
		s[i] = b + byte(i)
	}
	return s
}

func TestMessageRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("x"), MaxHandBackPrefix)
	tests := []struct {
		name string
		msg  Message
		size int
	}{
		{"hello", Message{Type: MsgHello, Instance: 7, Secret: secret(1), PID: 4242}, 41},
		{"welcome", Message{Type: MsgWelcome, Instance: 0xdeadbeef, Generation: 3}, 9},
		{"conn", Message{Type: MsgConn, ConnID: 1 << 60, Addr: "127.0.0.1:5000", Prefix: []byte("GET / HTTP/1.1\r\n")}, 1 + 8 + 4 + 14 + 4 + 16},
		{"conn empty", Message{Type: MsgConn, ConnID: 1, Addr: "[::1]:1"}, 1 + 8 + 4 + 7 + 4},
		{"handback", Message{Type: MsgHandBack, ConnID: 9, Prefix: []byte("abc")}, 1 + 8 + 4 + 3},
		{"handback max", Message{Type: MsgHandBack, ConnID: 9, Prefix: big}, MaxControlMessage},
		{"ready", Message{Type: MsgReady}, 1},
		{"load", Message{Type: MsgLoad, Sessions: 10, Conns: 20, Received: 1 << 40}, 17},
		{"drain", Message{Type: MsgDrain, DeadlineMS: 30000}, 5},
		{"retire", Message{Type: MsgRetire}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.msg.AppendBinary([]byte("pre"))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(b[:3]), "pre"; got != want {
				t.Fatalf("prefix clobbered: %q", got)
			}
			b = b[3:]
			if got, want := len(b), tt.size; got != want {
				t.Fatalf("encoded size %d, want %d", got, want)
			}
			got, err := ParseMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.msg; !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			if len(got.Prefix) > 0 {
				b[len(b)-1] ^= 0xff
				if got.Prefix[len(got.Prefix)-1] != tt.msg.Prefix[len(tt.msg.Prefix)-1] {
					t.Fatal("parsed Prefix aliases the input")
				}
			}
		})
	}
}

// TestMessageLayout pins the byte layout of docs/architecture.md.
func TestMessageLayout(t *testing.T) {
	m := Message{Type: MsgConn, ConnID: 0x0102030405060708, Addr: "a:1", Prefix: []byte("P")}
	got, _ := m.AppendBinary(nil)
	want := []byte{3, 8, 7, 6, 5, 4, 3, 2, 1, 3, 0, 0, 0, 'a', ':', '1', 1, 0, 0, 0, 'P'}
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
}

func TestAppendBinaryErrors(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want error
	}{
		{"unknown type", Message{Type: 0}, ErrMalformed},
		{"unknown type 9", Message{Type: MsgRetire + 1}, ErrMalformed},
		{"handback too large", Message{Type: MsgHandBack, Prefix: make([]byte, MaxHandBackPrefix+1)}, ErrFrameTooLarge},
		{"conn too large", Message{Type: MsgConn, Addr: "1.2.3.4:5", Prefix: make([]byte, MaxControlMessage)}, ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.msg.AppendBinary([]byte("keep"))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if string(b) != "keep" {
				t.Fatalf("buffer changed on error: %q", b)
			}
		})
	}
}

func enc(m Message) []byte {
	b, err := m.AppendBinary(nil)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseMessageMalformed(t *testing.T) {
	le := binary.LittleEndian
	conn := enc(Message{Type: MsgConn, ConnID: 1, Addr: "1.1.1.1:1", Prefix: []byte("GET")})
	badLen := append([]byte{byte(MsgHandBack)}, make([]byte, 8)...)
	badLen = le.AppendUint32(badLen, 5)
	badLen = append(badLen, "abc"...)
	hugeLen := append([]byte{byte(MsgHandBack)}, make([]byte, 8)...)
	hugeLen = le.AppendUint32(hugeLen, 0xffffffff)
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"type 0", []byte{0}},
		{"unknown type", []byte{byte(MsgRetire + 1)}},
		{"unknown type 255", []byte{255, 1, 2}},
		{"hello short", enc(Message{Type: MsgHello})[:40]},
		{"hello trailing", append(enc(Message{Type: MsgHello}), 0)},
		{"welcome short", []byte{byte(MsgWelcome), 1, 0, 0, 0, 2, 0, 0}},
		{"welcome trailing", append(enc(Message{Type: MsgWelcome}), 0)},
		{"conn no body", []byte{byte(MsgConn)}},
		{"conn short id", conn[:5]},
		{"conn addr cut", conn[:15]},
		{"conn prefix cut", conn[:len(conn)-1]},
		{"conn trailing", append(append([]byte{}, conn...), 'x')},
		{"handback len past end", badLen},
		{"handback len huge", hugeLen},
		{"ready trailing", []byte{byte(MsgReady), 0}},
		{"load short", enc(Message{Type: MsgLoad})[:16]},
		{"load trailing", append(enc(Message{Type: MsgLoad}), 1)},
		{"drain short", []byte{byte(MsgDrain), 1, 2, 3}},
		{"drain trailing", []byte{byte(MsgDrain), 1, 2, 3, 4, 5}},
		{"oversize", append([]byte{byte(MsgReady)}, make([]byte, MaxControlMessage)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMessage(tt.in)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !strings.HasPrefix(err.Error(), "ipc: ") {
				t.Fatalf("error %q lacks package prefix", err)
			}
			if !reflect.DeepEqual(got, Message{}) {
				t.Fatalf("got %+v on error, want zero Message", got)
			}
		})
	}
}

func TestMsgTypeString(t *testing.T) {
	tests := []struct {
		in   MsgType
		want string
	}{{MsgHello, "hello"}, {MsgDrain, "drain"}, {0, "MsgType(0)"}, {9, "MsgType(9)"}}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%d: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzParseMessage checks that ParseMessage never panics and that whatever it
// accepts re-encodes to exactly the input (the encoding is canonical).
func FuzzParseMessage(f *testing.F) {
	for _, m := range []Message{
		{Type: MsgHello, Instance: 1, Secret: secret(3), PID: 99},
		{Type: MsgWelcome, Instance: 2, Generation: 1},
		{Type: MsgConn, ConnID: 5, Addr: "127.0.0.1:80", Prefix: []byte("GET /?sid=x HTTP/1.1\r\n")},
		{Type: MsgHandBack, ConnID: 6, Prefix: []byte("POST / HTTP/1.1\r\n\r\n")},
		{Type: MsgReady},
		{Type: MsgLoad, Sessions: 1, Conns: 2, Received: 3},
		{Type: MsgDrain, DeadlineMS: 1000},
	} {
		f.Add(enc(m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", m, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded % x, input % x", out, b)
		}
	})
}
