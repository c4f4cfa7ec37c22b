//go:build !linux || stickyd_portable

// The read path of a websocket on every OS but Linux (and on Linux with
// the stickyd_portable build tag): gorilla reads the connection through
// the wsReadBufferSize buffer it was handed at the upgrade; no transport
// has a raw fd (rawConnOf is nil), so none parks and none has a
// connReader. wsread_linux.go is Linux's path.

package engineio

import (
	"errors"
	"io"
	"sync"
	"syscall"
)

// connReader is never used here (see wsread_linux.go).
type connReader struct{}

// init does nothing: no transport has a RawConn here.
func (*connReader) init(syscall.RawConn, *sync.Pool, *wsTransport) {}

// Buffered returns 0: a connReader never holds bytes here.
func (*connReader) Buffered() int { return 0 }

// Read reports io.EOF: nothing reads through a connReader here.
func (*connReader) Read([]byte) (int, error) { return 0, io.EOF }

// fill returns errNoRawReads: waitReadable needs a raw fd (Linux).
func (*connReader) fill() error { return errNoRawReads }

// errNoRawReads: this build makes no raw reads.
var errNoRawReads = errors.New("engineio: no raw reads in this build")
