package worker

import (
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
)

// This file holds a small fake primary built on ipc: a real SOCK_SEQPACKET
// control socket and real TCP connections whose fds it hands off.

// leakWait is how long worker tests give fds and goroutines to come back
// to their baseline (testutil.CheckNoLeaks).
var leakWait = testutil.Within(3*time.Second, 5*time.Millisecond)

type received struct {
	m ipc.Message
	f *os.File
}

type fakePrimary struct {
	t         testing.TB
	instance  uint32
	secret    [32]byte
	env       map[string]string
	ctl       *net.UnixListener
	tcp       *net.TCPListener
	cc        *ipc.ControlConn
	msgs      chan received // everything after Hello
	connected chan struct{}
	nextID    atomic.Uint64
	exited    chan int
}

// newFakePrimary listens on a control socket; welcome decides the answer
// to Hello (nil: a proper Welcome with generation 2).
func newFakePrimary(t testing.TB, instance uint32, welcome func(hello ipc.Message) *ipc.Message) *fakePrimary {
	t.Helper()
	dir := t.TempDir()
	p := &fakePrimary{t: t, instance: instance, msgs: make(chan received, 4096), connected: make(chan struct{}), exited: make(chan int, 1)}
	for i := range p.secret {
		p.secret[i] = byte(i * 7)
	}
	var err error
	p.ctl, err = ipc.ListenControl(filepath.Join(dir, "ctl.sock"))
	if err != nil {
		t.Fatal(err)
	}
	p.tcp, err = net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p.env = map[string]string{
		EnvSocket:     filepath.Join(dir, "ctl.sock"),
		EnvHubSocket:  filepath.Join(dir, "hub.sock"),
		EnvInstance:   strconv.FormatUint(uint64(instance), 10),
		EnvWorkerID:   "3",
		EnvGeneration: "0",
		EnvSecret:     hex.EncodeToString(p.secret[:]),
		EnvWorkers:    "4",
	}
	go func() {
		defer close(p.connected)
		uc, err := p.ctl.AcceptUnix()
		if err != nil {
			return
		}
		p.cc = ipc.NewControlConn(uc)
		hello, f, err := p.cc.Recv()
		if err != nil || f != nil || hello.Type != ipc.MsgHello {
			t.Errorf("fake primary: hello: %+v %v", hello, err)
			p.cc.Close()
			return
		}
		if hello.Secret != p.secret || hello.Instance != instance || hello.PID != uint32(os.Getpid()) {
			t.Errorf("fake primary: bad hello %+v", hello)
		}
		w := &ipc.Message{Type: ipc.MsgWelcome, Instance: instance, Generation: 2}
		if welcome != nil {
			w = welcome(hello)
		}
		if w == nil {
			p.cc.Close()
			return
		}
		if err := p.cc.Send(w, -1); err != nil {
			t.Errorf("fake primary: welcome: %v", err)
		}
		go p.recvLoop()
	}()
	t.Cleanup(func() {
		p.ctl.Close()
		p.tcp.Close()
		<-p.connected
		if p.cc != nil {
			p.cc.Close()
		}
	})
	return p
}

func (p *fakePrimary) recvLoop() {
	defer close(p.msgs)
	for {
		m, f, err := p.cc.Recv()
		if err != nil {
			return
		}
		p.msgs <- received{m, f}
	}
}

func (p *fakePrimary) getenv(k string) string { return p.env[k] }

// listen starts a worker Listener against p.
func (p *fakePrimary) listen(t testing.TB) *Listener {
	t.Helper()
	l, err := ListenOptions(Options{Getenv: p.getenv, Exit: func(code int) { p.exited <- code }})
	if err != nil {
		t.Fatal(err)
	}
	<-p.connected
	t.Cleanup(func() { l.Close() })
	return l
}

// dial makes a real client connection and hands the server side to the
// worker with prefix; it returns the client side and the conn id.
func (p *fakePrimary) dial(t testing.TB, prefix []byte) (*net.TCPConn, uint64) {
	t.Helper()
	cli, err := net.DialTCP("tcp", nil, p.tcp.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := p.tcp.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	id := p.nextID.Add(1)
	p.send(t, srv, &ipc.Message{Type: ipc.MsgConn, ConnID: id, Addr: cli.LocalAddr().String(), Prefix: prefix})
	t.Cleanup(func() { cli.Close() })
	return cli, id
}

// send sends m with c's fd and closes c, as the primary does after a hand-off.
func (p *fakePrimary) send(t testing.TB, c *net.TCPConn, m *ipc.Message) {
	t.Helper()
	defer c.Close()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = p.cc.Send(m, int(fd)) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
}

// next returns the next message of type typ, skipping (and checking) Load
// messages unless typ is MsgLoad.
func (p *fakePrimary) next(t testing.TB, typ ipc.MsgType) received {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case r, ok := <-p.msgs:
			if !ok {
				t.Fatalf("control link closed while waiting for %s", typ)
			}
			if r.m.Type == typ {
				return r
			}
			if r.f != nil {
				r.f.Close()
			}
			if r.m.Type != ipc.MsgLoad {
				t.Fatalf("got %s while waiting for %s", r.m.Type, typ)
			}
		case <-timeout:
			t.Fatalf("no %s message", typ)
		}
	}
}

// waitLoad waits for a Load message for which ok returns nil.
func (p *fakePrimary) waitLoad(t testing.TB, ok func(m ipc.Message) error) ipc.Message {
	t.Helper()
	var last error = errors.New("no load message")
	timeout := time.After(5 * time.Second)
	for {
		select {
		case r, open := <-p.msgs:
			if !open {
				t.Fatalf("control link closed; last: %v", last)
			}
			if r.f != nil {
				r.f.Close()
			}
			if r.m.Type != ipc.MsgLoad {
				continue
			}
			if last = ok(r.m); last == nil {
				return r.m
			}
		case <-timeout:
			t.Fatalf("no matching load message: %v", last)
		}
	}
}

// waitClosed discards messages until the worker closes the control link.
func (p *fakePrimary) waitClosed(t testing.TB) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case r, ok := <-p.msgs:
			if !ok {
				return
			}
			if r.f != nil {
				r.f.Close()
			}
		case <-timeout:
			t.Fatal("control link still open")
		}
	}
}
