//go:build linux

package rawsys

import (
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// pair returns a connected pair of non-blocking sockets of type typ.
func pair(t *testing.T, typ int) (a, b int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

func TestReadWriteWritevPeek(t *testing.T) {
	a, b := pair(t, unix.SOCK_STREAM)
	buf := make([]byte, 64)
	if _, e := Read(b, buf); e != unix.EAGAIN {
		t.Fatalf("Read of an empty socket: errno %v, want EAGAIN", e)
	}
	if n, e := Write(a, []byte("hello ")); n != 6 || e != 0 {
		t.Fatalf("Write = %d, %v", n, e)
	}
	vecs := make([]unix.Iovec, 2)
	for i, p := range [][]byte{[]byte("wor"), []byte("ld")} {
		vecs[i].Base = &p[0]
		vecs[i].SetLen(len(p))
	}
	if n, e := Writev(a, vecs); n != 5 || e != 0 {
		t.Fatalf("Writev = %d, %v", n, e)
	}
	n, e := Peek(b, buf)
	if got, want := string(buf[:n]), "hello world"; e != 0 || got != want {
		t.Fatalf("Peek = %q, %v; want %q", got, e, want)
	}
	n, e = Read(b, buf) // the peek consumed nothing
	if got, want := string(buf[:n]), "hello world"; e != 0 || got != want {
		t.Fatalf("Read = %q, %v; want %q", got, e, want)
	}
	if _, e := Peek(b, buf); e != unix.EAGAIN {
		t.Fatalf("Peek of an empty socket: errno %v, want EAGAIN", e)
	}
	unix.Shutdown(a, unix.SHUT_WR)
	if n, e := Read(b, buf); n != 0 || e != 0 {
		t.Fatalf("Read at EOF = %d, %v; want 0, 0", n, e)
	}
	if _, e := Write(-1, buf); e != unix.EBADF {
		t.Fatalf("Write to fd -1: errno %v, want EBADF", e)
	}
}

func TestSendmsgRecvmsgRights(t *testing.T) {
	a, b := pair(t, unix.SOCK_SEQPACKET)
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, e := Sendmsg(a, []byte("msg"), unix.UnixRights(int(f.Fd())), 0); n != 3 || e != 0 {
		t.Fatalf("Sendmsg = %d, %v", n, e)
	}
	buf, oob := make([]byte, 16), make([]byte, unix.CmsgSpace(4))
	n, oobn, flags, e := Recvmsg(b, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if e != 0 || string(buf[:n]) != "msg" || flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		t.Fatalf("Recvmsg = %q, flags %#x, %v", buf[:n], flags, e)
	}
	cms, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(cms) != 1 {
		t.Fatalf("control messages %v, %v", cms, err)
	}
	fds, err := unix.ParseUnixRights(&cms[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("rights %v, %v", fds, err)
	}
	defer unix.Close(fds[0])
	if fl, _ := unix.FcntlInt(uintptr(fds[0]), unix.F_GETFD, 0); fl&unix.FD_CLOEXEC == 0 {
		t.Error("received fd is not close-on-exec")
	}

	// Two fds into room for none: the kernel truncates (MSG_CTRUNC).
	if _, e := Sendmsg(a, []byte("x"), unix.UnixRights(int(f.Fd()), int(f.Fd())), 0); e != 0 {
		t.Fatal(e)
	}
	_, oobn, flags, e = Recvmsg(b, buf, nil, unix.MSG_CMSG_CLOEXEC)
	if e != 0 || oobn != 0 || flags&unix.MSG_CTRUNC == 0 {
		t.Fatalf("truncated: oobn %d, flags %#x, %v; want MSG_CTRUNC", oobn, flags, e)
	}
	if _, _, _, e := Recvmsg(b, buf, oob, 0); e != unix.EAGAIN {
		t.Fatalf("Recvmsg of an empty socket: errno %v, want EAGAIN", e)
	}
	// An empty datagram: 0 bytes, no error (the caller's EOF check).
	if _, e := Sendmsg(a, nil, nil, 0); e != 0 {
		t.Fatal(e)
	}
	if n, _, _, e := Recvmsg(b, buf, oob, 0); n != 0 || e != 0 {
		t.Fatalf("empty datagram: %d, %v", n, e)
	}
}

// dialAccept dials ln and accepts the connection with Accept4 on a dup of
// ln's socket (blocking, which is fine for one accept after a dial); it
// returns the accepted fd, its peer address and the client end.
func dialAccept(t *testing.T, ln net.Listener) (int, unix.Sockaddr, net.Conn) {
	t.Helper()
	f, err := ln.(interface{ File() (*os.File, error) }).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fd, sa, e := Accept4(int(f.Fd()), unix.SOCK_CLOEXEC)
	if e != 0 {
		t.Fatal(e)
	}
	return fd, sa, c
}

func TestAccept4Addr(t *testing.T) {
	tests := []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
	}
	for _, tt := range tests {
		t.Run(tt.network, func(t *testing.T) {
			ln, err := net.Listen(tt.network, tt.addr)
			if err != nil {
				t.Skipf("no %s here: %v", tt.network, err)
			}
			defer ln.Close()
			fd, sa, c := dialAccept(t, ln)
			defer Close(fd)
			var got net.TCPAddr
			switch sa := sa.(type) {
			case *unix.SockaddrInet4:
				got = net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
			case *unix.SockaddrInet6:
				got = net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
			default:
				t.Fatalf("sockaddr %T", sa)
			}
			want := c.LocalAddr().(*net.TCPAddr)
			if !got.IP.Equal(want.IP) || got.Port != want.Port {
				t.Fatalf("peer %v, want %v", &got, want)
			}
		})
	}
}

func TestAccept4NonInet(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("unix", dir+"/s")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fd, sa, _ := dialAccept(t, ln)
	if sa != nil {
		Close(fd)
		t.Fatalf("sockaddr of a Unix peer: %v, want nil", sa)
	}
	if e := Close(fd); e != 0 {
		t.Fatal(e)
	}
	if e := Close(fd); e != unix.EBADF {
		t.Fatalf("second Close: %v, want EBADF", e)
	}
}
