package testutil

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
)

// ListeningInode returns the inode of the TCP socket listening on addr
// (an IPv4 "host:port"), read from /proc/net/tcp, or "" when nothing
// listens there. Whoever holds it: another process may have bound the
// port since.
func ListeningInode(addr string) (string, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return "", fmt.Errorf("testutil: %q is not an IPv4 host:port", addr)
	}
	ip := ap.Addr().As4()
	// /proc/net/tcp prints the address as the host-order word of the
	// network-order bytes: 127.0.0.1 is 0100007F on little-endian machines.
	want := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ap.Port())
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return "", fmt.Errorf("testutil: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 9 && f[1] == want && f[3] == "0A" { // 0A: LISTEN
			return f[9], nil
		}
	}
	return "", nil
}

// HoldsListener reports whether this process has an fd for the TCP socket
// listening on addr (IPv4 "host:port"). Unlike dialling addr, it is not
// fooled by another process that bound the port after ours let it go.
func HoldsListener(addr string) (bool, error) {
	inode, err := ListeningInode(addr)
	if err != nil || inode == "" {
		return false, err
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return false, fmt.Errorf("testutil: %w", err)
	}
	want := "socket:[" + inode + "]"
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && l == want {
			return true, nil
		}
	}
	return false, nil
}
