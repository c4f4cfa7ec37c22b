package primary

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	accepted, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return dialed.(*net.TCPConn), accepted.(*net.TCPConn)
}

func rawOf(t *testing.T, c interface {
	SyscallConn() (syscall.RawConn, error)
}) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// TestSplicePump: 4 MiB cross a pump byte for byte (more than a pipe
// holds, so the pump waits for the slow reader), it counts them, and it
// returns nil at the source's EOF; a read deadline on the source ends a
// pump that waits, with the deadline error. Nothing leaks.
func TestSplicePump(t *testing.T) {
	testutil.CheckNoLeaks(t)
	srcClient, srcServer := tcpPair(t)
	defer srcClient.Close()
	defer srcServer.Close()
	dstClient, dstServer := tcpPair(t)
	defer dstClient.Close()
	defer dstServer.Close()

	data := make([]byte, 4<<20)
	rand.Read(data)
	var counted atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- splicePump(rawOf(t, srcServer), rawOf(t, dstServer), func(n int) { counted.Add(int64(n)) })
	}()
	go func() {
		srcClient.Write(data)
		srcClient.CloseWrite()
	}()
	got, err := io.ReadAll(io.LimitReader(dstClient, int64(len(data))))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d of %d bytes, equal=%v, err %v", len(got), len(data), bytes.Equal(got, data), err)
	}
	if err := <-done; err != nil {
		t.Fatalf("pump at EOF: %v", err)
	}
	if counted.Load() != int64(len(data)) {
		t.Fatalf("counted %d bytes, want %d", counted.Load(), len(data))
	}

	idleClient, idleServer := tcpPair(t)
	defer idleClient.Close()
	defer idleServer.Close()
	go func() { done <- splicePump(rawOf(t, idleServer), rawOf(t, dstServer), func(int) {}) }()
	idleServer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("pump after its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
}
