package worker

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
	"golang.org/x/sys/unix"
)

// acceptConn hands a fresh client connection to l through p and returns
// both ends.
func acceptConn(t *testing.T, p *fakePrimary, l *Listener) (*net.TCPConn, *Conn) {
	t.Helper()
	cli, _ := p.dial(t, nil)
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return cli, nc.(*Conn)
}

// wantOpError fails unless err is a *net.OpError of op satisfying is.
func wantOpError(t *testing.T, what string, err error, op string, is error) {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != op || !errors.Is(err, is) {
		t.Fatalf("%s: %T %v, want a *net.OpError %q wrapping %v", what, err, err, op, is)
	}
}

// TestConnErrorsAsTCPConn: a Conn reports failures as a *net.TCPConn does
// (a *net.OpError; a timeout error at a deadline; net.ErrClosed after
// Close), although it wraps an *os.File, whose errors are *fs.PathError.
func TestConnErrorsAsTCPConn(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 31, nil)
	l := p.listen(t)
	_, c := acceptConn(t, p, l)

	c.SetReadDeadline(time.Now().Add(-time.Second))
	_, err := c.Read(make([]byte, 1))
	wantOpError(t, "read past the deadline", err, "read", os.ErrDeadlineExceeded)
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v is not a net.Error timeout", err)
	}
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	_, err = c.Write([]byte("x"))
	wantOpError(t, "write past the deadline", err, "write", os.ErrDeadlineExceeded)

	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err = c.Read(make([]byte, 1))
	wantOpError(t, "read after Close", err, "read", net.ErrClosed)
	_, err = c.Write([]byte("x"))
	wantOpError(t, "write after Close", err, "write", net.ErrClosed)
	wantOpError(t, "SetDeadline after Close", c.SetDeadline(time.Time{}), "set", net.ErrClosed)
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v, want the first one's nil", err)
	}
}

// TestConnResetIsOpError: a reset by the client is a *net.OpError of the
// read wrapping the system call's ECONNRESET, as with a *net.TCPConn.
func TestConnResetIsOpError(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 32, nil)
	l := p.listen(t)
	cli, c := acceptConn(t, p, l)
	cli.SetLinger(0)
	cli.Close() // RST
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	wantOpError(t, "read after a reset", err, "read", unix.ECONNRESET)
	var se *os.SyscallError
	if !errors.As(err, &se) || se.Syscall != "read" {
		t.Fatalf("read after a reset: %v, want an *os.SyscallError of read inside", err)
	}
}

// TestHTTPTimeoutNotAnswered: net/http closes a handed-off connection
// whose request head does not arrive in time without writing anything, as
// on a *net.TCPConn (it answers 400 to read errors it does not take for a
// network error).
func TestHTTPTimeoutNotAnswered(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 33, nil)
	l := p.listen(t)
	srv := &http.Server{Handler: l.Handler(echoHandler), ReadHeaderTimeout: 100 * time.Millisecond}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	defer func() {
		srv.Close()
		<-errc
	}()
	cli, _ := p.dial(t, []byte("GET / HTTP/1.1\r\n"))
	io.WriteString(cli, "Host: x\r\n") // and nothing more
	cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(cli)
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("server wrote %q on a header timeout, want nothing", got)
	}
}

// TestConnCloseWrite: CloseWrite ends the server's half (the client reads
// EOF) and the client's bytes still arrive.
func TestConnCloseWrite(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 34, nil)
	l := p.listen(t)
	cli, c := acceptConn(t, p, l)
	if _, err := c.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(cli); err != nil || string(got) != "bye" {
		t.Fatalf("client read %q, %v; want \"bye\" then EOF", got, err)
	}
	io.WriteString(cli, "still here")
	buf := make([]byte, 10)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "still here" {
		t.Fatalf("server read %q, %v", buf, err)
	}
}

// TestConnLocalAddrLazy: LocalAddr is the Conn's own *connAddr (what the
// hand-back finds through http.LocalAddrContextKey) and reads the socket's
// address only when printed.
func TestConnLocalAddrLazy(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 35, nil)
	l := p.listen(t)
	cli, c := acceptConn(t, p, l)
	a, ok := c.LocalAddr().(*connAddr)
	if !ok || a.c != c {
		t.Fatalf("LocalAddr is %T %v, want the Conn's *connAddr", c.LocalAddr(), c.LocalAddr())
	}
	if got := a.known(); got != nil {
		t.Fatalf("local address read before use: %v", got)
	}
	if got, want := a.Network(), "tcp"; got != want {
		t.Fatalf("Network() = %q, want %q", got, want)
	}
	if got, want := a.String(), cli.RemoteAddr().String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	if _, ok := a.known().(*net.TCPAddr); !ok {
		t.Fatalf("known() = %T after String, want *net.TCPAddr", a.known())
	}
}

// TestDeliverBlockingFD: a received fd in blocking mode (Go's poller
// cannot wait on it) is made non-blocking, so deadlines work.
func TestDeliverBlockingFD(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 36, nil)
	l := p.listen(t)
	cli, srv := p.pair(t)
	rc, _ := srv.SyscallConn()
	var serr error
	rc.Control(func(fd uintptr) {
		if serr = unix.SetNonblock(int(fd), false); serr == nil {
			serr = p.Send(&ipc.Message{Type: ipc.MsgConn, ConnID: 1, Addr: cli.LocalAddr().String()}, int(fd))
		}
	})
	srv.Close()
	if serr != nil {
		t.Fatal(serr)
	}
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	done := make(chan error, 1)
	go func() {
		_, err := nc.Read(make([]byte, 1))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read: %v, want the deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("read on a blocking fd ignored its deadline")
	}
	io.WriteString(cli, "ok")
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "ok" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if !strings.HasPrefix(nc.RemoteAddr().String(), "127.0.0.1:") {
		t.Fatalf("RemoteAddr %v", nc.RemoteAddr())
	}
}

// TestConnRawIO exercises the paths of the raw reads and writes: a
// write far larger than the socket buffers waits for writability as often
// as it takes and delivers every byte in order; reads return what has
// arrived, then io.EOF when the client shuts its side; a zero-length read
// or write returns at once; concurrent writers and readers each complete;
// a read blocked on an idle socket is woken by Close with net.ErrClosed.
func TestConnRawIO(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 37, nil)
	l := p.listen(t)
	cli, c := acceptConn(t, p, l)
	if c.rw != &c.io {
		t.Fatal("a received socket is not read and written with raw calls")
	}
	cli.SetDeadline(time.Now().Add(20 * time.Second))
	c.SetDeadline(time.Now().Add(20 * time.Second))

	if n, err := c.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
	if n, err := c.Write(nil); n != 0 || err != nil {
		t.Fatalf("Write(nil) = %d, %v; want 0, nil", n, err)
	}

	// 4 writers of 2 MiB each, one Write call apiece: each call's bytes
	// arrive contiguous (a Write is never interleaved with another).
	const chunk = 2 << 20
	writers := "abcd"
	werr := make(chan error, len(writers))
	for _, b := range []byte(writers) {
		go func() {
			n, err := c.Write([]byte(strings.Repeat(string(b), chunk)))
			if err == nil && n != chunk {
				err = io.ErrShortWrite
			}
			werr <- err
		}()
	}
	got := make([]byte, chunk*len(writers))
	if _, err := io.ReadFull(cli, got); err != nil {
		t.Fatalf("client read: %v", err)
	}
	for range writers {
		if err := <-werr; err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	seen := map[byte]bool{}
	for i := 0; i < len(got); i += chunk {
		b := got[i]
		if seen[b] || strings.Trim(string(got[i:i+chunk]), string(b)) != "" {
			t.Fatalf("bytes %d..%d are not one writer's whole chunk", i, i+chunk)
		}
		seen[b] = true
	}

	// Client to server: 1 MiB, read by two readers at once; together they
	// see every byte, then EOF once the client shuts its side.
	in := make([]byte, 1<<20)
	for i := range in {
		in[i] = byte(i * 7)
	}
	go func() {
		cli.Write(in)
		cli.CloseWrite()
	}()
	var total atomic.Int64
	rerr := make(chan error, 2)
	for range 2 {
		go func() {
			buf := make([]byte, 4096)
			for {
				n, err := c.Read(buf)
				total.Add(int64(n))
				if err != nil {
					rerr <- err
					return
				}
			}
		}()
	}
	for range 2 {
		if err := <-rerr; err != io.EOF {
			t.Fatalf("reader ended with %v, want io.EOF", err)
		}
	}
	if got, want := total.Load(), int64(len(in)); got != want {
		t.Fatalf("readers got %d bytes, want %d", got, want)
	}
}

// TestConnCloseWakesRead: Close wakes a read blocked on an idle socket; it
// returns net.ErrClosed.
func TestConnCloseWakesRead(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 38, nil)
	l := p.listen(t)
	_, c := acceptConn(t, p, l)
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 16))
		done <- err
	}()
	testutil.CheckFor(t, 10*time.Second, time.Millisecond, func() error {
		if !testutil.GoroutineIn("[IO wait", "(*Stream).Read(") {
			return errors.New("the reader is not parked in the poller yet")
		}
		return nil
	})
	c.Close()
	select {
	case err := <-done:
		wantOpError(t, "read woken by Close", err, "read", net.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake a blocked Read")
	}
}
