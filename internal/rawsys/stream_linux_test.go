//go:build linux

package rawsys

import (
	"bytes"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// streamPair returns a Stream on one end of a non-blocking Unix stream
// socket pair and the other end's fd.
func streamPair(t *testing.T) (*Stream, int) {
	t.Helper()
	a, b := pair(t, unix.SOCK_STREAM)
	fd, err := unix.Dup(a)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.FileConn(os.NewFile(uintptr(fd), "a"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := RawConnOf(c)
	if rc == nil {
		t.Fatal("no RawConn for a non-blocking socket")
	}
	s := &Stream{}
	s.Init(rc)
	return s, b
}

// TestStreamTryWriteNeverWaits: TryWrite returns what a full socket took,
// short with no error, and writes the rest once the peer has read.
func TestStreamTryWriteNeverWaits(t *testing.T) {
	s, peer := streamPair(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB, more than the socket holds
	n, err := s.TryWrite(data)
	if err != nil || n <= 0 || n >= len(data) {
		t.Fatalf("TryWrite of 1 MiB to a socket nobody reads = %d, %v; want a short write, no error", n, err)
	}
	if n2, err := s.TryWrite(data[n:]); err != nil || n2 != 0 {
		t.Fatalf("TryWrite to a full socket = %d, %v; want 0, nil", n2, err)
	}
	got := make([]byte, 0, len(data))
	buf := make([]byte, 64<<10)
	for len(got) < len(data) {
		m, e := Read(peer, buf)
		switch e {
		case 0:
			got = append(got, buf[:m]...)
		case unix.EAGAIN:
			w, err := s.TryWrite(data[n:])
			if err != nil {
				t.Fatal(err)
			}
			n += w
		default:
			t.Fatal(e)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatal("bytes read differ from those written")
	}
	unix.Shutdown(peer, unix.SHUT_RDWR)
	if _, err := s.TryWrite(data); err == nil {
		t.Fatal("TryWrite to a shut down peer: no error")
	}
}
