package socketio

import (
	"encoding/json"
	"errors"
	"testing"
	"unsafe"
)

// TestAckEncoding: an ack is written as the ACK packet a single process
// writes, whatever its namespace, arguments and attachments, and answers
// once.
func TestAckEncoding(t *testing.T) {
	env := newEnv(t, Options{})
	errs := make(chan error, 4)
	handle := func(s *Socket) {
		_ = s.On("plain", func(args Args, ack AckFunc) { _ = ack(args, 2, "x") })
		_ = s.On("none", func(ack AckFunc) { _ = ack() })
		_ = s.On("binary", func(ack AckFunc) { _ = ack("b", []byte{1, 2}) })
		_ = s.On("twice", func(ack AckFunc) {
			errs <- ack("first")
			errs <- ack("second")
		})
	}
	env.io.OnConnection(handle)
	env.io.Of("/chat").OnConnection(handle)
	c := env.dial("")
	c.connect("/", "")
	c.connect("/chat", "")
	for _, tt := range []struct{ send, want string }{
		{`21["plain",{"a":[1,"]"]},null]`, `31[{"a":[1,"]"]},null,2,"x"]`},
		{`2/chat,22["plain"]`, `3/chat,22[2,"x"]`},
		{`2/chat,90071992547409["none"]`, `3/chat,90071992547409[]`},
	} {
		c.send(tt.send)
		c.expect(tt.want)
	}
	c.send(`2/chat,7["binary"]`)
	c.expect(`61-/chat,7["b",{"_placeholder":true,"num":0}]`)
	if m := c.next(); !m.binary || string(m.bin) != "\x01\x02" {
		t.Fatalf("attachment %q (binary %v), want 0102", m.bin, m.binary)
	}
	c.send(`23["twice"]`)
	c.expect(`33["first"]`)
	if err := <-errs; err != nil {
		t.Fatalf("first ack: %v", err)
	}
	if err := <-errs; !errors.Is(err, ErrAlreadyAcked) {
		t.Fatalf("second ack: %v, want ErrAlreadyAcked", err)
	}
}

// TestAckAfterDisconnect: an ack whose socket is gone reports
// ErrDisconnected.
func TestAckAfterDisconnect(t *testing.T) {
	env := newEnv(t, Options{})
	acks := make(chan AckFunc, 1)
	gone := make(chan struct{})
	env.io.OnConnection(func(s *Socket) {
		_ = s.On("later", func(ack AckFunc) { acks <- ack })
		s.OnDisconnect(func(string) { close(gone) })
	})
	c := env.dial("")
	c.connect("/", "")
	c.send(`21["later"]`)
	ack := <-acks
	c.ws.Close()
	<-gone
	if err := ack("late"); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("ack after disconnect: %v, want ErrDisconnected", err)
	}
}

// TestEventNameCache: a client's repeated event name is the cached string,
// and the cache never lets a reserved or escaped name through.
func TestEventNameCache(t *testing.T) {
	var last string
	for _, tt := range []struct {
		raw, want string
		err       bool
	}{
		{`"msg"`, "msg", false},
		{`"msg"`, "msg", false},
		{`"ms\u0067"`, "msg", false}, // escaped: decoded, same name
		{`"connect"`, "", true},
		{`"msg"`, "msg", false},
		{`"other"`, "other", false},
		{`7`, "7", false},
	} {
		got, err := eventNameCached(json.RawMessage(tt.raw), &last)
		if got != tt.want || (err != nil) != tt.err {
			t.Fatalf("eventNameCached(%s) = %q, %v; want %q, error %v", tt.raw, got, err, tt.want, tt.err)
		}
	}
	if last != "other" {
		t.Fatalf("cache holds %q, want %q", last, "other")
	}
	raw := json.RawMessage(`"other"`)
	if n := testing.AllocsPerRun(100, func() { _, _ = eventNameCached(raw, &last) }); n != 0 {
		t.Fatalf("cached name: %v allocations, want 0", n)
	}
}

// TestDecodedArgsShareMessage: the arguments of a packet from the
// decoder are the message's own bytes (engineio hands the message over);
// those of PacketFromEncoded, whose text the caller may share, are a copy.
func TestDecodedArgsShareMessage(t *testing.T) {
	within := func(p, buf []byte) bool {
		a, lo := uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
		return a >= lo && a < lo+uintptr(len(buf))
	}
	msg := []byte(`2["ev",{"k":1},[2]]`)
	d := decoder{maxAttachments: 10}
	p, err := d.add(msg, false)
	if err != nil {
		t.Fatal(err)
	}
	args, _ := p.Args()
	if len(args) != 3 || string(args[1]) != `{"k":1}` || !within(args[1], msg) {
		t.Fatalf("decoder args %q: not views of the message", args)
	}
	text := `2["ev",{"k":1}]`
	q, err := PacketFromEncoded(EncodedPacket{Text: text})
	if err != nil {
		t.Fatal(err)
	}
	qargs, _ := q.Args()
	if len(qargs) != 2 || within(qargs[1], unsafe.Slice(unsafe.StringData(text), len(text))) {
		t.Fatalf("PacketFromEncoded args %q share the caller's text", qargs)
	}
}
