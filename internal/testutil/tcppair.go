package testutil

import (
	"net"
	"testing"
)

// TCPPair returns the two ends of a real loopback TCP connection (client
// dialled to a 127.0.0.1:0 listener, server accepted from it); a cleanup
// of t closes both. It fails the test when the connection cannot be made.
func TCPPair(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("testutil: tcp pair: %v", err)
	}
	defer l.Close()
	client, err = net.DialTCP("tcp", nil, l.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatalf("testutil: tcp pair: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = l.AcceptTCP()
	if err != nil {
		t.Fatalf("testutil: tcp pair: %v", err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}
