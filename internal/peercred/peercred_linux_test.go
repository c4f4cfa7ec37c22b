package peercred

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestUID: both ends of a real Unix socket see this process's uid; a
// closed connection gives an error instead of a uid.
func TestUID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*net.UnixConn{server, client} {
		if uid, err := UID(c); err != nil || uid != uint32(os.Getuid()) {
			t.Errorf("UID = %d, %v; want %d", uid, err, os.Getuid())
		}
	}
	server.Close()
	if _, err := UID(server); !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrClosed) {
		t.Errorf("UID of a closed conn: err = %v, want a closed error", err)
	}
}
