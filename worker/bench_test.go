package worker

import (
	"testing"

	"github.com/stickyd/stickyd/ipc"
)

// BenchmarkHandOffAccept measures one hand-off as the worker sees it: the
// primary sends a Conn message with a client fd, the Listener turns it into
// a Conn, Accept returns it, and the app closes it.
func BenchmarkHandOffAccept(b *testing.B) {
	p := newFakePrimary(b, 50, nil)
	l := p.listen(b)
	p.discard()
	cli, srv := p.pair(b)
	rc, _ := srv.SyscallConn()
	m := ipc.Message{Type: ipc.MsgConn, Addr: cli.LocalAddr().String()}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.ConnID = uint64(i)
		var serr error
		rc.Control(func(fd uintptr) { serr = p.Send(&m, int(fd)) })
		if serr != nil {
			b.Fatal(serr)
		}
		c, err := l.Accept()
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
