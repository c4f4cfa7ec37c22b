//go:build !linux || stickyd_portable

// Idle websockets on every OS but Linux (and on Linux with the
// stickyd_portable build tag): the reader goroutine stays, blocked in its
// read. readpoll_linux.go parks idle connections without one.

package engineio

import (
	"sync/atomic"
	"syscall"
)

// readPoller parks nothing here.
type readPoller struct {
	pongs  atomic.Uint64 // never counts: nothing parks
	rearms atomic.Uint64 // never counts
}

func newReadPoller() *readPoller { return &readPoller{} }

// park reports false: the reader keeps reading.
func (*readPoller) park(*wsTransport, int) bool { return false }

// unpark reports false: nothing is ever parked.
func (*readPoller) unpark(*wsTransport, int) bool { return false }

// close does nothing.
func (*readPoller) close() {}

// socketFD returns -1: no transport parks.
func socketFD(syscall.RawConn) int { return -1 }

// ParksIdleWebSockets reports whether this build parks idle websockets:
// false here, where every websocket keeps its reader goroutine.
const ParksIdleWebSockets = false
