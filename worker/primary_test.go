package worker

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/worker/workertest"
)

// The fake primary of these tests is workertest.Primary; this file holds
// the test-failing shorthands and what a test of package worker itself
// needs (environment overrides, the exit code).

// leakWait is how long worker tests give fds and goroutines to come back
// to their baseline (testutil.CheckNoLeaks).
var leakWait = testutil.Within(3*time.Second, 5*time.Millisecond)

type fakePrimary struct {
	*workertest.Primary
	env    map[string]string // overrides of the Primary's environment
	msgs   <-chan workertest.Received
	exited chan int // codes the Listener's Exit was called with
}

// newFakePrimary starts a workertest.Primary for instance (worker 3 of
// 4, generation 2); welcome, when not nil, answers the Hello.
func newFakePrimary(t testing.TB, instance uint32, welcome func(hello ipc.Message) *ipc.Message) *fakePrimary {
	t.Helper()
	wp, err := workertest.New(workertest.Options{Instance: instance, WorkerID: 3, Workers: 4, Generation: 2, Welcome: welcome})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wp.Close() })
	return &fakePrimary{Primary: wp, env: map[string]string{}, msgs: wp.Messages(), exited: make(chan int, 1)}
}

func (p *fakePrimary) getenv(k string) string {
	if v, ok := p.env[k]; ok {
		return v
	}
	return p.Getenv(k)
}

// listen starts a worker Listener against p.
func (p *fakePrimary) listen(t testing.TB) *Listener { return p.listenOptions(t, Options{}) }

// listenOptions is listen with opts (Getenv and Exit are p's).
func (p *fakePrimary) listenOptions(t testing.TB, opts Options) *Listener {
	t.Helper()
	opts.Getenv, opts.Exit = p.getenv, func(code int) { p.exited <- code }
	l, err := ListenOptions(opts)
	if err != nil {
		t.Fatal(err)
	}
	if hello, err := p.Hello(); err != nil || hello.PID != uint32(os.Getpid()) {
		t.Fatalf("hello %+v: %v", hello, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// dial makes a real client connection and hands the server side to the
// worker with prefix; it returns the client side and the conn id.
func (p *fakePrimary) dial(t testing.TB, prefix []byte) (*net.TCPConn, uint64) {
	t.Helper()
	cli, id, err := p.DialPrefix(prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli, id
}

// send sends m to the worker.
func (p *fakePrimary) send(t testing.TB, m *ipc.Message) {
	t.Helper()
	if err := p.Send(m, -1); err != nil {
		t.Fatal(err)
	}
}

// next returns the next message of type typ, skipping Loads.
func (p *fakePrimary) next(t testing.TB, typ ipc.MsgType) workertest.Received {
	t.Helper()
	r, err := p.Next(typ)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// waitLoad waits for a Load message for which ok returns nil.
func (p *fakePrimary) waitLoad(t testing.TB, ok func(m ipc.Message) error) ipc.Message {
	t.Helper()
	m, err := p.WaitLoad(ok)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitClosed discards messages until the worker closes the control link.
func (p *fakePrimary) waitClosed(t testing.TB) {
	t.Helper()
	if err := p.WaitClosed(); err != nil {
		t.Fatal(err)
	}
}

// discard closes the fds of every message from now on, in the background.
func (p *fakePrimary) discard() {
	go func() {
		for r := range p.msgs {
			if r.File != nil {
				r.File.Close()
			}
		}
	}()
}

// pair returns both ends of a loopback TCP connection from p (Pair),
// closed at the end of the test.
func (p *fakePrimary) pair(t testing.TB) (client, server *net.TCPConn) {
	t.Helper()
	client, server, err := p.Pair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}
