//go:build linux && !stickyd_portable

package engineio

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/rawsys"
	"github.com/stickyd/stickyd/internal/testutil"
)

// initTestConnReader makes cr a connReader of c with a pool of its own.
func initTestConnReader(t *testing.T, cr *connReader, c net.Conn) {
	t.Helper()
	rc := rawsys.RawConnOf(c)
	if rc == nil {
		t.Fatal("no raw conn")
	}
	cr.init(rc, &sync.Pool{New: func() any { b := make([]byte, wsReadChunk); return &b }}, nil)
}

// TestConnReader: a connReader holds a pooled buffer only while bytes
// read from the socket wait in it, reads large requests straight into
// the caller's slice, and reports the poller's deadline and the end of
// the stream holding nothing.
func TestConnReader(t *testing.T) {
	client, server := testutil.TCPPair(t)
	cr := &connReader{}
	initTestConnReader(t, cr, server)
	if _, err := client.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 3)
	if n, err := cr.Read(p); err != nil || string(p[:n]) != "012" {
		t.Fatalf("Read %q, %v; want 012", p[:n], err)
	}
	if cr.Buffered() != 7 || cr.buf == nil {
		t.Fatalf("%d bytes buffered (buffer held: %v), want 7", cr.Buffered(), cr.buf != nil)
	}
	p = make([]byte, 100)
	if n, err := cr.Read(p); err != nil || string(p[:n]) != "3456789" {
		t.Fatalf("Read %q, %v; want 3456789", p[:n], err)
	}
	if cr.Buffered() != 0 || cr.buf != nil {
		t.Fatalf("%d bytes buffered (buffer held: %v) once drained", cr.Buffered(), cr.buf != nil)
	}

	// A large read: straight into the caller's slice.
	big := bytes.Repeat([]byte("x"), 3*wsReadChunk)
	if _, err := client.Write(big); err != nil {
		t.Fatal(err)
	}
	p = make([]byte, 2*wsReadChunk)
	got := 0
	for got < len(big) {
		n, err := cr.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		if cr.buf != nil {
			t.Fatal("a large read took a pooled buffer")
		}
		got += n
	}
	if got != len(big) {
		t.Fatalf("read %d bytes, want %d", got, len(big))
	}

	// Nothing to read: the deadline passes, nothing held.
	_ = server.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if err := cr.fill(); !errors.Is(err, os.ErrDeadlineExceeded) || cr.buf != nil {
		t.Fatalf("fill %v (buffer held: %v), want a deadline error", err, cr.buf != nil)
	}
	_ = server.SetReadDeadline(time.Time{})

	// fill, then reads through a small bufio.Reader as gorilla's.
	if _, err := client.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := cr.fill(); err != nil || cr.Buffered() != 3 {
		t.Fatalf("fill %v, %d bytes buffered; want 3", err, cr.Buffered())
	}
	if err := cr.fill(); err != nil || cr.Buffered() != 3 {
		t.Fatalf("fill again %v, %d bytes buffered; want 3", err, cr.Buffered())
	}
	client.Close()
	all, err := io.ReadAll(bufio.NewReaderSize(cr, wsFrameBufSize))
	if err != nil || string(all) != "abc" {
		t.Fatalf("ReadAll %q, %v; want abc", all, err)
	}
	if n, err := cr.Read(p); n != 0 || err != io.EOF || cr.buf != nil {
		t.Fatalf("Read at the end %d, %v (buffer held: %v); want io.EOF", n, err, cr.buf != nil)
	}
}

// TestMayParkConsidersConnReader: a reader never parks while bytes wait
// in its connReader (nor in gorilla's buffer), which no poller would wake
// it for.
func TestMayParkConsidersConnReader(t *testing.T) {
	client, server := testutil.TCPPair(t)
	tr := &wsTransport{fd: 1}
	initTestConnReader(t, &tr.in, server)
	tr.br = bufio.NewReaderSize(&tr.in, wsFrameBufSize)
	if !tr.mayPark() {
		t.Fatal("may not park with nothing buffered")
	}
	if _, err := client.Write([]byte("xyz")); err != nil {
		t.Fatal(err)
	}
	if err := tr.in.fill(); err != nil {
		t.Fatal(err)
	}
	if tr.mayPark() {
		t.Fatal("may park with bytes in the connReader")
	}
	if _, err := tr.br.Peek(1); err != nil {
		t.Fatal(err)
	}
	if tr.in.Buffered() != 0 || tr.br.Buffered() != 3 || tr.mayPark() {
		t.Fatalf("may park with bytes in gorilla's buffer (%d, %d buffered)", tr.br.Buffered(), tr.in.Buffered())
	}
	if _, err := tr.br.Discard(3); err != nil || !tr.mayPark() {
		t.Fatalf("Discard: %v; may not park once all is read", err)
	}
}

// TestParkedWebSocketHoldsNoReadBuffer: once traffic of every size is
// read, a parked websocket holds only gorilla's small frame buffer: no
// pooled buffer, nothing buffered.
func TestParkedWebSocketHoldsNoReadBuffer(t *testing.T) {
	srv, ws := newReadServer(t, 10*time.Millisecond)
	var glued []byte
	for i, n := range readSizes {
		glued = append(glued, clientFrame(opcodeText, []byte("4"+body(i, n-1)))...)
	}
	if _, err := ws.c.NetConn().Write(glued); err != nil {
		t.Fatal(err)
	}
	for i, n := range readSizes {
		expectEcho(t, srv, ws, body(i, n-1))
	}
	waitParked(t, srv.Server, 1)
	so := srv.snapshot()[0]
	so.mu.Lock()
	defer so.mu.Unlock()
	tr := so.ws
	if tr.br.Size() != wsFrameBufSize || tr.br.Buffered() != 0 {
		t.Errorf("gorilla's buffer: %d bytes, %d buffered; want %d, none", tr.br.Size(), tr.br.Buffered(), wsFrameBufSize)
	}
	if tr.in.buf != nil || tr.in.Buffered() != 0 {
		t.Errorf("connReader holds a buffer (%d bytes buffered)", tr.in.Buffered())
	}
}
