package redisemitter

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

// Bad input: a URL go-redis cannot parse gets ErrBadURL.
func TestBadURL(t *testing.T) {
	for _, u := range []string{"", "http://127.0.0.1", "redis://127.0.0.1:notaport"} {
		if _, err := New(Options{URL: u}); !errors.Is(err, ErrBadURL) {
			t.Errorf("%q: %v, want ErrBadURL", u, err)
		}
	}
}

// A Redis that accepts and never answers: Emit gives up after
// Options.Timeout (it took 5 s before) with ErrPublish wrapping the
// timeout.
func TestPublishTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(held)
				return
			}
			held <- c
		}
	}()
	defer func() {
		ln.Close()
		for c := range held {
			c.Close()
		}
	}()
	e, err := New(Options{URL: "redis://" + ln.Addr().String(), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	start := time.Now()
	err = e.To("r").Emit("ev", 1)
	var netErr net.Error
	timedOut := errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout()
	if !errors.Is(err, ErrPublish) || !timedOut {
		t.Fatalf("Emit to a silent server: %v, want ErrPublish wrapping a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Emit took %v with a 200 ms timeout", d)
	}
}

// Operators are immutable: deriving one leaves its parent's targets as
// they were, and Of starts afresh.
func TestOperatorsAreImmutable(t *testing.T) {
	e, err := New(Options{URL: "redis://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	a := e.To("a")
	b := a.To("b").Except("x").Volatile()
	_ = a.To("c")
	if !slices.Equal(a.opts.Rooms, []string{"a"}) || a.opts.Flags.Volatile || len(a.opts.Except) != 0 {
		t.Fatalf("parent changed: %+v", a.opts)
	}
	if !slices.Equal(b.opts.Rooms, []string{"a", "b"}) || !b.opts.Flags.Volatile || !slices.Equal(b.opts.Except, []string{"x"}) {
		t.Fatalf("derived %+v", b.opts)
	}
	if o := b.Of("/admin"); o.nsp != "/admin" || len(o.opts.Rooms) != 0 || o.opts.Flags.Volatile {
		t.Fatalf("Of kept targets: %q %+v", o.nsp, o.opts)
	}
}
