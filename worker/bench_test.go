package worker

import (
	"net"
	"testing"

	"github.com/stickyd/stickyd/ipc"
)

// BenchmarkHandOffAccept measures one hand-off as the worker sees it: the
// primary sends a Conn message with a client fd, the Listener turns it into
// a Conn, Accept returns it, and the app closes it.
func BenchmarkHandOffAccept(b *testing.B) {
	p := newFakePrimary(b, 50, nil)
	l := p.listen(b)
	go func() {
		for r := range p.msgs {
			if r.f != nil {
				r.f.Close()
			}
		}
	}()
	cli, err := net.DialTCP("tcp", nil, p.tcp.Addr().(*net.TCPAddr))
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	srv, err := p.tcp.AcceptTCP()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	rc, _ := srv.SyscallConn()
	m := ipc.Message{Type: ipc.MsgConn, Addr: cli.LocalAddr().String()}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.ConnID = uint64(i)
		var serr error
		rc.Control(func(fd uintptr) { serr = p.cc.Send(&m, int(fd)) })
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
