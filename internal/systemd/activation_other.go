//go:build !linux

package systemd

import "net"

// Listeners finds no sockets outside Linux: it returns nil, nil, nil.
func Listeners() ([]net.Listener, []string, error) { return nil, nil, nil }

// Listener finds no socket outside Linux: it returns nil, nil.
func Listener() (net.Listener, error) { return nil, nil }
