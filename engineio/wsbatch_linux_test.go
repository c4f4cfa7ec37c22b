//go:build linux && !stickyd_portable

package engineio

import (
	"bytes"
	"net"
	"os"
	"testing"

	"github.com/stickyd/stickyd/internal/rawsys"
	"github.com/stickyd/stickyd/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestWSBatchWriteOnce writes a coalesced batch and a referenced one to a
// socket pair through writeOnce (write and writev) and reads the same bytes.
func TestWSBatchWriteOnce(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	for _, frames := range [][]*Frame{
		{NewTextFrame([]byte("a")), NewTextFrame([]byte("bc"))},
		{NewTextFrame(make([]byte, 2000)), NewTextFrame([]byte("tail"))},
	} {
		var b, ref wsBatch
		b.addFrames(frames)
		for _, f := range frames {
			ref.addFrame(f)
		}
		want := bytes.Join(ref.iov, nil)
		for b.pending() {
			if err := b.writeOnce(fds[0]); err != nil {
				t.Fatalf("writeOnce: %v", err)
			}
		}
		got := make([]byte, len(want)+1)
		n, err := unix.Read(fds[1], got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:n], want) {
			t.Errorf("read %d bytes %q..., want %d", n, got[:min(n, 16)], len(want))
		}
	}
}

// TestRawConnOf: a socket of package net is non-blocking, so the
// transport writes it with raw writev; an fd in blocking mode is not (a raw
// call on it could sleep holding the scheduler), nor a conn without an fd,
// so they get no inline writes.
func TestRawConnOf(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if got, want := rawsys.RawConnOf(r) != nil, true; got != want {
		t.Errorf("os.Pipe: has a raw conn = %v, want %v", got, want)
	}
	rc, _ := r.SyscallConn()
	rc.Control(func(fd uintptr) { unix.SetNonblock(int(fd), false) })
	if got, want := rawsys.RawConnOf(r) != nil, false; got != want {
		t.Errorf("blocking fd: has a raw conn = %v, want %v", got, want)
	}

	c, _ := testutil.TCPPair(t)
	if got, want := rawConnOf(c) != nil, true; got != want {
		t.Errorf("*net.TCPConn: has a raw conn = %v, want %v", got, want)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got, want := rawConnOf(a) != nil, false; got != want {
		t.Errorf("net.Pipe: has a raw conn = %v, want %v", got, want)
	}
}
