package socketio

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// AckFunc answers an event that asked for an acknowledgement. The arguments
// are encoded as Emit's are. Only the first call sends; later calls return
// ErrAlreadyAcked.
type AckFunc func(args ...any) error

// RawHandler is the raw handler form: the event's arguments as the JSON the
// client sent, and ack (nil when the client did not ask for one).
type RawHandler = func(args []json.RawMessage, ack AckFunc)

var (
	typeRawMessage = reflect.TypeFor[json.RawMessage]()
	typeAckFunc    = reflect.TypeFor[AckFunc]()
	typeAnyFunc    = reflect.TypeFor[func(...any)]()
	typeAnyFuncErr = reflect.TypeFor[func(...any) error]()
	typeError      = reflect.TypeFor[error]()
)

// Args are an event's arguments exactly as the client sent them: the JSON of
// each argument with binary attachment placeholders left in place, and the
// attachments. A handler of the form func(Args, AckFunc) receives them;
// passing an Args to Emit, an AckFunc or a broadcast as an argument sends
// its arguments back out unchanged, binary included (a relay or an echo).
type Args struct {
	JSON        []json.RawMessage
	Attachments [][]byte
}

// handler is a registered event handler in callable form. args have their
// placeholders resolved (base64); raw is what was received.
type handler struct {
	call func(args []json.RawMessage, raw Args, ack AckFunc) error
}

// newHandler validates fn and wraps it. Accepted forms:
//
//	func(args []json.RawMessage, ack AckFunc)        raw (RawHandler)
//	func(args Args, ack AckFunc)                     as received, binary intact
//	func(a T1, b T2, ...)                            typed
//	func(a T1, ..., ack func(...any))                typed with ack
//	func(a T1, ..., ack AckFunc)                     typed with ack
//
// Typed parameters are decoded from the corresponding argument with
// encoding/json (missing arguments leave zero values, extra ones are
// ignored); json.RawMessage receives the argument untouched. A typed
// handler may return nothing or an error (logged). The ack parameter is
// nil when the sender did not ask for an acknowledgement.
func newHandler(fn any) (*handler, error) {
	if fn == nil {
		return nil, fmt.Errorf("%w: nil", ErrInvalidHandler)
	}
	if raw, ok := fn.(RawHandler); ok {
		return &handler{call: func(a []json.RawMessage, _ Args, ack AckFunc) error { raw(a, ack); return nil }}, nil
	}
	if f, ok := fn.(func(Args, AckFunc)); ok {
		return &handler{call: func(_ []json.RawMessage, r Args, ack AckFunc) error { f(r, ack); return nil }}, nil
	}
	if f, ok := fn.(func()); ok {
		return &handler{call: func([]json.RawMessage, Args, AckFunc) error { f(); return nil }}, nil
	}
	v := reflect.ValueOf(fn)
	t := v.Type()
	if t.Kind() != reflect.Func || t.IsVariadic() {
		return nil, fmt.Errorf("%w: %v is not a non-variadic func", ErrInvalidHandler, t)
	}
	switch {
	case t.NumOut() == 0:
	case t.NumOut() == 1 && t.Out(0) == typeError:
	default:
		return nil, fmt.Errorf("%w: %v must return nothing or error", ErrInvalidHandler, t)
	}
	n := t.NumIn()
	ackKind := 0 // 0 none, 1 AckFunc, 2 func(...any), 3 func(...any) error
	if n > 0 {
		switch t.In(n - 1) {
		case typeAckFunc:
			ackKind = 1
		case typeAnyFunc:
			ackKind = 2
		case typeAnyFuncErr:
			ackKind = 3
		}
		if ackKind != 0 {
			n--
		}
	}
	for i := 0; i < n; i++ {
		if k := t.In(i).Kind(); k == reflect.Func || k == reflect.Chan || k == reflect.UnsafePointer {
			return nil, fmt.Errorf("%w: parameter %d of %v cannot be decoded from JSON", ErrInvalidHandler, i, t)
		}
	}
	call := func(args []json.RawMessage, _ Args, ack AckFunc) error {
		in := make([]reflect.Value, t.NumIn())
		for i := 0; i < n; i++ {
			pt := t.In(i)
			pv := reflect.New(pt)
			if i < len(args) {
				if pt == typeRawMessage {
					pv.Elem().SetBytes(append([]byte(nil), args[i]...))
				} else if err := json.Unmarshal(args[i], pv.Interface()); err != nil {
					return fmt.Errorf("%w: argument %d: %v", ErrBadArgument, i, err)
				}
			}
			in[i] = pv.Elem()
		}
		if ackKind != 0 {
			var av reflect.Value
			switch {
			case ack == nil:
				av = reflect.Zero(t.In(n))
			case ackKind == 1:
				av = reflect.ValueOf(ack)
			case ackKind == 2:
				av = reflect.ValueOf(func(a ...any) { _ = ack(a...) })
			default:
				av = reflect.ValueOf(func(a ...any) error { return ack(a...) })
			}
			in[n] = av
		}
		out := v.Call(in)
		if len(out) == 1 && !out[0].IsNil() {
			return out[0].Interface().(error)
		}
		return nil
	}
	return &handler{call: call}, nil
}
