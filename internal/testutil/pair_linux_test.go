package testutil

import (
	"io"
	"net"
	"strings"
	"testing"
)

// TestSocketPair: the two ends are connected both ways, are Unix stream
// sockets, and closing both gives back every fd.
func TestSocketPair(t *testing.T) {
	before := FDCount(t)
	a, b := SocketPair(t)
	if _, ok := a.(*net.UnixConn); !ok {
		t.Fatalf("end is %T, want *net.UnixConn", a)
	}
	pingBothWays(t, a, b)
	a.Close()
	if n, err := b.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after closing one end the other read %d, %v; want EOF", n, err)
	}
	b.Close()
	if after := FDCount(t); after != before {
		t.Fatalf("%d fds after closing both ends, had %d", after, before)
	}
}

func TestTCPPair(t *testing.T) {
	var client, server *net.TCPConn
	t.Run("pair", func(t *testing.T) {
		client, server = TCPPair(t)
		if client.LocalAddr().String() != server.RemoteAddr().String() {
			t.Fatalf("client %v is not the server's peer %v", client.LocalAddr(), server.RemoteAddr())
		}
		pingBothWays(t, client, server)
	})
	for _, c := range []*net.TCPConn{client, server} {
		if _, err := c.Write([]byte("x")); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Errorf("write after the subtest's cleanup: %v, want use of closed connection", err)
		}
	}
}

// pingBothWays writes "ping" on each end and reads it on the other.
func pingBothWays(t *testing.T, a, b net.Conn) {
	t.Helper()
	for _, dir := range [][2]net.Conn{{a, b}, {b, a}} {
		if _, err := dir[0].Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 4)
		if _, err := io.ReadFull(dir[1], got); err != nil || string(got) != "ping" {
			t.Fatalf("read %q, %v; want ping", got, err)
		}
	}
}
