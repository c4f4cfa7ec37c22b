package primary

import (
	"io"
	"sync"
	"syscall"

	"github.com/stickyd/stickyd/httphead"
	"golang.org/x/sys/unix"
)

var peekBufs = sync.Pool{New: func() any { return new([httphead.MaxRequestLine]byte) }}

// peek waits until the bytes waiting on the connection behind rc satisfy
// done (it returns true or an error), without consuming anything: it reads
// with MSG_PEEK into buf. It honours the read deadline of the connection rc
// belongs to. Go's poller is edge-triggered, so after a peek that shows no
// new bytes the callback returns false to wait for the next readiness
// event. done must decide once buf is full.
func peek(rc syscall.RawConn, buf []byte, done func(b []byte) (bool, error)) error {
	var perr error
	prev := -1
	err := rc.Read(func(fd uintptr) bool {
		for {
			n, _, err := unix.Recvfrom(int(fd), buf, unix.MSG_PEEK|unix.MSG_DONTWAIT)
			switch {
			case err == unix.EINTR:
				continue
			case err == unix.EAGAIN:
				return false
			case err != nil:
				perr = err
				return true
			case n == 0:
				perr = io.EOF
				return true
			case n == prev:
				return false // nothing new since the last look
			}
			prev = n
			var ok bool
			ok, perr = done(buf[:n])
			return ok || perr != nil
		}
	})
	if err != nil {
		return err
	}
	return perr
}

// peekRequestLine waits until the connection behind rc holds a complete
// request line (or bytes that can never form one) and parses it, without
// consuming anything.
func peekRequestLine(rc syscall.RawConn) (httphead.RequestLine, error) {
	bp := peekBufs.Get().(*[httphead.MaxRequestLine]byte)
	defer peekBufs.Put(bp)
	var line httphead.RequestLine
	err := peek(rc, bp[:], func(b []byte) (bool, error) {
		var complete bool
		var err error
		line, complete, err = httphead.ParseRequestLine(b)
		return complete, err
	})
	return line, err
}
