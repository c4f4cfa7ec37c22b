package socketio

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
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

// handler is a registered event handler: the function as registered and,
// for the typed forms, its signature, shared by every handler of the same
// type (a Socket registers its handlers on each connection: one handler
// costs 24 bytes, no allocation of its own).
type handler struct {
	fn  any
	sig *signature // nil for RawHandler, func(Args, AckFunc) and func()
}

// signature is what newHandler learned about a typed handler's func type:
// how many arguments it decodes and how it takes an ack.
type signature struct {
	t       reflect.Type
	n       int // parameters decoded from the event's arguments
	ackKind int // 0 none, 1 AckFunc, 2 func(...any), 3 func(...any) error
}

// signatures caches the signature of each typed handler's func type. Safe
// for concurrent use.
type signatures struct {
	m sync.Map // reflect.Type -> *signature
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
// encoding/json (missing arguments leave the zero value, extra ones are
// ignored); json.RawMessage receives the argument untouched. A typed
// handler may return nothing or an error (logged). The ack parameter is
// nil when the sender did not ask for an acknowledgement.
func (c *signatures) newHandler(fn any) (handler, error) {
	switch fn.(type) {
	case nil:
		return handler{}, fmt.Errorf("%w: nil", ErrInvalidHandler)
	case RawHandler, func(Args, AckFunc), func():
		return handler{fn: fn}, nil
	}
	t := reflect.TypeOf(fn)
	if sig, ok := c.m.Load(t); ok {
		return handler{fn: fn, sig: sig.(*signature)}, nil
	}
	sig, err := newSignature(t)
	if err != nil {
		return handler{}, err
	}
	c.m.Store(t, sig)
	return handler{fn: fn, sig: sig}, nil
}

// newSignature checks that t is a handler's func type (see newHandler).
func newSignature(t reflect.Type) (*signature, error) {
	if t.Kind() != reflect.Func || t.IsVariadic() {
		return nil, fmt.Errorf("%w: %v is not a non-variadic func", ErrInvalidHandler, t)
	}
	switch {
	case t.NumOut() == 0:
	case t.NumOut() == 1 && t.Out(0) == typeError:
	default:
		return nil, fmt.Errorf("%w: %v must return nothing or error", ErrInvalidHandler, t)
	}
	sig := &signature{t: t, n: t.NumIn()}
	if sig.n > 0 {
		switch t.In(sig.n - 1) {
		case typeAckFunc:
			sig.ackKind = 1
		case typeAnyFunc:
			sig.ackKind = 2
		case typeAnyFuncErr:
			sig.ackKind = 3
		}
		if sig.ackKind != 0 {
			sig.n--
		}
	}
	for i := 0; i < sig.n; i++ {
		if k := t.In(i).Kind(); k == reflect.Func || k == reflect.Chan || k == reflect.UnsafePointer {
			return nil, fmt.Errorf("%w: parameter %d of %v cannot be decoded from JSON", ErrInvalidHandler, i, t)
		}
	}
	return sig, nil
}

// call runs the handler with an event's arguments (args: placeholders
// resolved; raw: as received) and ack (nil: none asked for).
func (h handler) call(args []json.RawMessage, raw Args, ack AckFunc) error {
	switch f := h.fn.(type) {
	case RawHandler:
		f(args, ack)
		return nil
	case func(Args, AckFunc):
		f(raw, ack)
		return nil
	case func():
		f()
		return nil
	}
	return h.sig.call(reflect.ValueOf(h.fn), args, ack)
}

// call calls fn, a func of type sig.t, with args decoded into its
// parameters and ack in the form it takes.
func (sig *signature) call(fn reflect.Value, args []json.RawMessage, ack AckFunc) error {
	t := sig.t
	in := make([]reflect.Value, t.NumIn())
	for i := 0; i < sig.n; i++ {
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
	if sig.ackKind != 0 {
		var av reflect.Value
		switch {
		case ack == nil:
			av = reflect.Zero(t.In(sig.n))
		case sig.ackKind == 1:
			av = reflect.ValueOf(ack)
		case sig.ackKind == 2:
			av = reflect.ValueOf(func(a ...any) { _ = ack(a...) })
		default:
			av = reflect.ValueOf(func(a ...any) error { return ack(a...) })
		}
		in[sig.n] = av
	}
	out := fn.Call(in)
	if len(out) == 1 && !out[0].IsNil() {
		return out[0].Interface().(error)
	}
	return nil
}
