package ipc

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestSendConnFD passes a real TCP connection's fd and talks through the
// received copy in both directions.
func TestSendConnFD(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	cli, srv := testutil.TCPPair(t)
	w, p := controlPair(t)
	if _, err := cli.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	want := Message{Type: MsgConn, ConnID: 77, Addr: cli.LocalAddr().String(), Prefix: []byte("pre")}
	connFD(t, srv, func(fd int) {
		if err := p.Send(&want, fd); err != nil {
			t.Fatal(err)
		}
	})
	// The sender still owns its fd, in non-blocking mode.
	connFD(t, srv, func(fd int) {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil || fl&unix.O_NONBLOCK == 0 {
			t.Fatalf("sender fd flags %#x, %v: want O_NONBLOCK kept", fl, err)
		}
	})
	srv.Close()

	got, f, err := w.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != want.Type || got.ConnID != want.ConnID || got.Addr != want.Addr || string(got.Prefix) != "pre" {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if f == nil {
		t.Fatal("no fd")
	}
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("received fd flags %#x: not close-on-exec", flags)
	}
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	if _, err := c.Write([]byte("pong\n")); err != nil {
		t.Fatal(err)
	}
	line, err = bufio.NewReader(cli).ReadString('\n')
	if err != nil || line != "pong\n" {
		t.Fatalf("client read %q, %v", line, err)
	}
}

func TestSendRecvNoFD(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	w, p := controlPair(t)
	msgs := []Message{
		{Type: MsgHello, Instance: 3, Secret: secret(9), PID: uint32(os.Getpid())},
		{Type: MsgReady},
		{Type: MsgLoad, Sessions: 4, Conns: 5, Received: 6},
	}
	for i := range msgs {
		if err := w.Send(&msgs[i], -1); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range msgs {
		got, f, err := p.Recv()
		if err != nil || f != nil {
			t.Fatalf("Recv: %+v, %v, %v", got, f, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
}

// TestRecvBadMessages sends messages Send would refuse and checks each gets
// its error and leaves no fd behind.
func TestRecvBadMessages(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	okConn := enc(Message{Type: MsgConn, ConnID: 1, Addr: "1.2.3.4:5"})
	tests := []struct {
		name string
		b    []byte
		nfds int
		want error
	}{
		{"ctrunc", okConn, 8, ErrTruncated},
		{"ctrunc 64 fds", okConn, 64, ErrTruncated},
		{"two fds", okConn, 2, ErrMalformed},
		{"conn without fd", okConn, 0, ErrMalformed},
		{"ready with fd", enc(Message{Type: MsgReady}), 1, ErrMalformed},
		{"garbage with fd", []byte{0xee, 1, 2}, 1, ErrMalformed},
		{"short conn with fd", okConn[:10], 1, ErrMalformed},
		{"oversize datagram", make([]byte, MaxControlMessage+100), 1, ErrMalformed},
		{"empty datagram with fd", nil, 1, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, p := controlPair(t)
			before := testutil.FDCount(t)
			fds := make([]int, tt.nfds)
			for i := range fds {
				r, wr, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				wr.Close()
				defer r.Close()
				fds[i] = int(r.Fd())
			}
			sendRaw(t, p, tt.b, fds...)
			m, f, err := w.Recv()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if f != nil || m.Type != 0 {
				t.Fatalf("got %+v, %v with error", m, f)
			}
			if got, want := testutil.FDCount(t), before+tt.nfds; got != want {
				t.Fatalf("fd count %d after Recv, want %d: received fds leaked", got, want)
			}
		})
	}
}

func TestSendRefusesBadMessage(t *testing.T) {
	w, _ := controlPair(t)
	if err := w.Send(&Message{Type: MsgHandBack, Prefix: make([]byte, MaxHandBackPrefix+1)}, -1); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v, want ErrFrameTooLarge", err)
	}
	if err := w.Send(&Message{Type: 99}, -1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want ErrMalformed", err)
	}
}

func TestRecvEOFAndClose(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	w, p := controlPair(t)
	p.Close()
	if _, _, err := w.Recv(); err != io.EOF {
		t.Fatalf("after peer close: got %v, want io.EOF", err)
	}

	w2, _ := controlPair(t)
	errc := make(chan error, 1)
	go func() { _, _, err := w2.Recv(); errc <- err }()
	w2.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Recv during Close: got %v, want ErrClosed", err)
	}
	if err := w2.Send(&Message{Type: MsgReady}, -1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: got %v, want ErrClosed", err)
	}
	if err := w2.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestConcurrentSend(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	w, p := controlPair(t)
	const senders, each = 8, 200
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				m := Message{Type: MsgLoad, Sessions: uint32(s), Received: uint64(i)}
				if err := w.Send(&m, -1); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	next := make([]uint64, senders)
	for n := 0; n < senders*each; n++ {
		m, _, err := p.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.Received != next[m.Sessions] {
			t.Fatalf("sender %d: got %d, want %d", m.Sessions, m.Received, next[m.Sessions])
		}
		next[m.Sessions]++
	}
	wg.Wait()
}

func TestPeerCredAndMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.sock")
	l, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Mode().Perm(), os.FileMode(0o600); got != want {
		t.Fatalf("socket mode %v, want %v", got, want)
	}
	go func() {
		c, err := DialControl(path)
		if err == nil {
			defer c.Close()
			c.Send(&Message{Type: MsgReady}, -1)
		}
	}()
	uc, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	c := NewControlConn(uc)
	defer c.Close()
	cred, err := c.PeerCred()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cred.Pid, int32(os.Getpid()); got != want {
		t.Fatalf("peer pid %d, want %d", got, want)
	}
	if got, want := cred.Uid, uint32(os.Getuid()); got != want {
		t.Fatalf("peer uid %d, want %d", got, want)
	}
	hl, err := ListenHub(filepath.Join(t.TempDir(), "h.sock"))
	if err != nil {
		t.Fatal(err)
	}
	hl.Close()
	if _, err := DialControl(filepath.Join(t.TempDir(), "none.sock")); err == nil {
		t.Fatal("dial of a missing socket succeeded")
	}
}

// TestManyConnsNoLeak passes 1000 fds and checks the fd count is stable.
func TestManyConnsNoLeak(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	w, p := controlPair(t)
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer wr.Close()
	before := testutil.FDCount(t)
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 1000; i++ {
			m, f, err := w.Recv()
			if err != nil {
				done <- err
				return
			}
			if m.ConnID != uint64(i) {
				f.Close()
				done <- errors.New("out of order")
				return
			}
			f.Close()
		}
		done <- nil
	}()
	for i := 0; i < 1000; i++ {
		if err := p.Send(&Message{Type: MsgConn, ConnID: uint64(i), Addr: "x"}, int(r.Fd())); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A leak raises the count; an fd of an earlier test closing late may
	// lower it.
	if got := testutil.FDCount(t); got > before {
		t.Fatalf("fd count %d, want at most %d", got, before)
	}
}

func TestRecvDeadline(t *testing.T) {
	w, _ := controlPair(t)
	w.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, _, err := w.Recv(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want deadline exceeded", err)
	}
}

// BenchmarkSendConn measures one hand-off: Conn message + fd over the
// control link, Recv, and net.FileConn on the received fd.
func BenchmarkSendConn(b *testing.B) {
	w, p := controlPair(b)
	cli, _ := testutil.TCPPair(b)
	rc, err := cli.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	m := Message{Type: MsgConn, Addr: "127.0.0.1:40000"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.ConnID = uint64(i)
		var serr error
		rc.Control(func(fd uintptr) { serr = p.Send(&m, int(fd)) })
		if serr != nil {
			b.Fatal(serr)
		}
		_, f, err := w.Recv()
		if err != nil {
			b.Fatal(err)
		}
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkSendMsgFD measures the message + fd round trip without FileConn.
func BenchmarkSendMsgFD(b *testing.B) {
	w, p := controlPair(b)
	cli, _ := testutil.TCPPair(b)
	rc, _ := cli.SyscallConn()
	m := Message{Type: MsgConn, Addr: "127.0.0.1:40000"}
	b.ReportAllocs()
	for b.Loop() {
		rc.Control(func(fd uintptr) { p.Send(&m, int(fd)) })
		_, f, err := w.Recv()
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// TestTrySend: TrySend delivers a Conn message with its fd like Send; when
// the peer stops reading it fails with ErrWouldBlock without sending (no
// partial or duplicated message, the fd still the sender's), succeeds
// again once the peer has read, and fails with ErrClosed after Close.
func TestTrySend(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	w, p := controlPair(t)
	cli, srv := testutil.TCPPair(t)
	sent := 0
	var blocked error
	connFD(t, srv, func(fd int) {
		for blocked == nil {
			m := Message{Type: MsgConn, ConnID: uint64(sent), Addr: "127.0.0.1:1", Prefix: []byte("x")}
			if err := p.TrySend(&m, fd); err != nil {
				blocked = err
				break
			}
			sent++
			if sent > 1e6 {
				t.Fatal("TrySend never reported a full buffer")
			}
		}
	})
	if !errors.Is(blocked, ErrWouldBlock) {
		t.Fatalf("TrySend on a full link: %v, want ErrWouldBlock", blocked)
	}
	if sent == 0 {
		t.Fatal("no message fitted")
	}
	for i := 0; i < sent; i++ {
		m, f, err := w.Recv()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		f.Close()
		if m.Type != MsgConn || m.ConnID != uint64(i) || m.Addr != "127.0.0.1:1" || string(m.Prefix) != "x" {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	// The link works again, the next message is this one (nothing was
	// sent beyond what TrySend reported) and its fd is the connection.
	connFD(t, srv, func(fd int) {
		if err := p.TrySend(&Message{Type: MsgConn, ConnID: 1e9}, fd); err != nil {
			t.Fatalf("TrySend after the peer read: %v", err)
		}
	})
	m, f, err := w.Recv()
	if err != nil || m.ConnID != 1e9 || f == nil {
		t.Fatalf("Recv: %+v %v %v", m, f, err)
	}
	if _, err := f.Write([]byte("via fd\n")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if line, err := bufio.NewReader(cli).ReadString('\n'); err != nil || line != "via fd\n" {
		t.Fatalf("client read %q, %v", line, err)
	}
	p.Close()
	if err := p.TrySend(&Message{Type: MsgReady}, -1); !errors.Is(err, ErrClosed) {
		t.Fatalf("TrySend after Close: %v, want ErrClosed", err)
	}
}

// sendBlockingConn sends, over p, the server end of a loopback TCP
// connection switched to blocking mode as a Conn message, closes its own
// copy, and returns the client end.
func sendBlockingConn(t *testing.T, p *ControlConn) *net.TCPConn {
	t.Helper()
	cli, srv := testutil.TCPPair(t)
	connFD(t, srv, func(fd int) {
		if err := unix.SetNonblock(fd, false); err != nil {
			t.Fatal(err)
		}
		if err := p.Send(&Message{Type: MsgConn, ConnID: 1}, fd); err != nil {
			t.Fatal(err)
		}
	})
	srv.Close()
	return cli
}

// TestRecvBlockingFDPollable: a fd sent in blocking mode is received as a
// non-blocking File that Go's poller takes, so its deadlines work.
func TestRecvBlockingFDPollable(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	w, p := controlPair(t)
	cli := sendBlockingConn(t, p)
	_, f, err := w.Recv()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	connFD(t, f, func(fd int) {
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil || fl&unix.O_NONBLOCK == 0 {
			t.Fatalf("received fd flags %#x, %v: want O_NONBLOCK", fl, err)
		}
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
			t.Fatalf("received fd flags %#x, %v: want close-on-exec", fl, err)
		}
	})
	if err := f.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatalf("SetReadDeadline: %v, want deadlines to work", err)
	}
	if _, err := f.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	f.SetReadDeadline(time.Time{})
	cli.Write([]byte("x"))
	if n, err := f.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
}

// TestRecvBlockingFDNoFreeFD: when a blocking fd arrives and no fd is free
// for the non-blocking duplicate Recv takes (RLIMIT_NOFILE lowered so that
// the received fd takes the last free slot), Recv returns the EMFILE of
// fcntl(F_DUPFD_CLOEXEC) and closes the received fd: no fd leaks, and the
// client's connection, whose only other copy the sender closed, ends.
func TestRecvBlockingFDNoFreeFD(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	w, p := controlPair(t)
	cli := sendBlockingConn(t, p)
	before := testutil.FDCount(t)

	// The lowest free fd is the one the received fd takes; a limit of one
	// more leaves none for the duplicate.
	free, err := unix.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(free)
	var old unix.Rlimit
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		t.Fatal(err)
	}
	low := unix.Rlimit{Cur: uint64(free) + 1, Max: old.Max}
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, &low, nil); err != nil {
		t.Fatal(err)
	}
	_, f, err := w.Recv()
	if err := unix.Prlimit(0, unix.RLIMIT_NOFILE, &old, nil); err != nil {
		t.Fatalf("restore RLIMIT_NOFILE: %v", err)
	}
	if !errors.Is(err, unix.EMFILE) || f != nil {
		t.Fatalf("Recv with no fd free: %v, file %v; want EMFILE and no file", err, f)
	}
	if got := testutil.FDCount(t); got != before {
		t.Errorf("%d fds after the failed Recv, want %d: the received fd leaked", got, before)
	}
	_ = cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := cli.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("client read %d, %v; want io.EOF: the received fd is still open", n, err)
	}
}
