package socketio

import (
	"encoding/json"
	"errors"
	"testing"
)

// TestHandlerSignaturesShared: typed handlers of one func type share one
// signature (a socket's handlers allocate nothing of their own), the three
// untyped forms need none, an invalid type is refused every time, and each
// form gets its arguments.
func TestHandlerSignaturesShared(t *testing.T) {
	var sigs signatures
	var got []string
	mk := func(tag string) func(string, AckFunc) {
		return func(s string, ack AckFunc) { got = append(got, tag+s) }
	}
	h1, err := sigs.newHandler(mk("a"))
	if err != nil {
		t.Fatal(err)
	}
	h2, err := sigs.newHandler(mk("b"))
	if err != nil {
		t.Fatal(err)
	}
	if h1.sig == nil || h1.sig != h2.sig {
		t.Fatalf("signatures %p and %p, want one shared", h1.sig, h2.sig)
	}
	args := []json.RawMessage{json.RawMessage(`"x"`)}
	for _, h := range []handler{h1, h2} {
		if err := h.call(args, Args{JSON: args}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var raw, asReceived, none int
	for _, fn := range []any{
		RawHandler(func(a []json.RawMessage, _ AckFunc) { raw += len(a) }),
		func(a Args, _ AckFunc) { asReceived += len(a.JSON) },
		func() { none++ },
	} {
		h, err := sigs.newHandler(fn)
		if err != nil || h.sig != nil {
			t.Fatalf("newHandler(%T) = %+v, %v; want no signature", fn, h, err)
		}
		if err := h.call(args, Args{JSON: args}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0] != "ax" || got[1] != "bx" || raw != 1 || asReceived != 1 || none != 1 {
		t.Errorf("calls: typed %q, raw %d, as received %d, none %d", got, raw, asReceived, none)
	}
	for range 2 {
		if _, err := sigs.newHandler(func(chan int) {}); !errors.Is(err, ErrInvalidHandler) {
			t.Errorf("newHandler(func(chan int)) = %v, want ErrInvalidHandler", err)
		}
	}
	wantErr := errors.New("handler failed")
	h, err := sigs.newHandler(func(n int) error { return wantErr })
	if err != nil {
		t.Fatal(err)
	}
	if err := h.call([]json.RawMessage{json.RawMessage(`1`)}, Args{}, nil); !errors.Is(err, wantErr) {
		t.Errorf("typed handler's error = %v, want %v", err, wantErr)
	}
	if err := h.call([]json.RawMessage{json.RawMessage(`"no"`)}, Args{}, nil); !errors.Is(err, ErrBadArgument) {
		t.Errorf("bad argument = %v, want ErrBadArgument", err)
	}
}
