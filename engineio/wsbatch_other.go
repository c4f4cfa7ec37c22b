//go:build !linux || stickyd_portable

// The write path of a websocket batch on every OS but Linux (and on Linux
// with the stickyd_portable build tag): the connection's own Write, from
// the transport's writer goroutine. wsbatch_linux.go is Linux's raw path.

package engineio

import (
	"net"
	"syscall"
)

// rawWriter is empty: this write path keeps nothing between batches.
type rawWriter struct{}

// release does nothing (see the Linux path's).
func (*rawWriter) release() {}

// rawConnOf returns nil: without raw system calls no write can be tried
// without blocking, so every batch goes to the transport's writer
// goroutine, which writes it with writeConn.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

// tryWrite returns errWouldBlock: the writer goroutine writes (see
// rawConnOf).
func (*wsBatch) tryWrite(syscall.RawConn) error { return errWouldBlock }

// writeAll writes all of b with writeConn, blocking until done or the
// connection's write deadline passes.
func (b *wsBatch) writeAll(nc net.Conn, _ syscall.RawConn) error { return b.writeConn(nc) }
