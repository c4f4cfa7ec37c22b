package worker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// handOffRequest makes a client connection that has sent a request
// before the primary hands it to the worker; it returns the client side.
func handOffRequest(t *testing.T, p *fakePrimary) *net.TCPConn {
	t.Helper()
	cli, srv := p.pair(t)
	if _, err := io.WriteString(cli, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.HandOff(srv, nil); err != nil {
		t.Fatal(err)
	}
	return cli
}

// acceptFrom accepts the next connection and checks that it is cli's.
func acceptFrom(t *testing.T, l *Listener, cli *net.TCPConn) net.Conn {
	t.Helper()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.RemoteAddr().String(), cli.LocalAddr().String(); got != want {
		c.Close()
		t.Fatalf("accepted %s, want %s", got, want)
	}
	return c
}

// expect503 reads a 503 answer and the end of the stream from cli.
func expect503(t *testing.T, cli *net.TCPConn) {
	t.Helper()
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(cli)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a refused connection: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || string(body) != "accept queue full\n" {
		t.Fatalf("answer %s %v %q", resp.Status, resp.Header, body)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the answer: %v, want EOF", err)
	}
}

// TestAcceptQueueAppNeverAccepts: an app that never calls Accept holds at
// most MaxAcceptQueue connections; once the queue stayed full for
// AcceptQueueStall, each further connection is answered 503 and closed
// (counted), Drain is still read, and the queued connections are intact
// for a late Accept, after which connections queue again.
func TestAcceptQueueAppNeverAccepts(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	const limit, extra = 4, 3
	p := newFakePrimary(t, 41, nil)
	l := p.listenOptions(t, Options{MaxAcceptQueue: limit, AcceptQueueStall: 200 * time.Millisecond})
	var queued []*net.TCPConn
	for range limit {
		queued = append(queued, handOffRequest(t, p))
	}
	for range extra {
		expect503(t, handOffRequest(t, p))
	}
	if n := l.Queued(); n != limit {
		t.Fatalf("%d queued, want %d", n, limit)
	}
	if c := l.Counters(); c.AcceptQueueRefused != extra || c.AcceptQueueStalls == 0 {
		t.Fatalf("counters %+v, want %d refused after a stall", c, extra)
	}
	if err := p.Drain(time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Draining():
	case <-time.After(5 * time.Second):
		t.Fatal("Drain not read while the accept queue is full")
	}
	for _, cli := range queued { // in queue order
		acceptFrom(t, l, cli).Close()
	}
	defer acceptFrom(t, l, handOffRequest(t, p)).Close()
	if c := l.Counters(); c.AcceptQueueRefused != extra {
		t.Fatalf("counters %+v: a connection was refused after the app accepted", c)
	}
}

// TestAcceptQueueBackPressure: while the queue is full and the stall has
// not passed, the Listener does not read its control link: the next
// connection stays with the primary (in the link) until Accept makes
// room, and nothing is refused.
func TestAcceptQueueBackPressure(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 42, nil)
	l := p.listenOptions(t, Options{MaxAcceptQueue: 2, AcceptQueueStall: time.Hour})
	p.discard()
	handOffRequest(t, p)
	handOffRequest(t, p)
	third := handOffRequest(t, p)
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if !testutil.GoroutineIn("worker.(*Listener).waitForRoom") {
			return errors.New("the control-link reader does not wait for room")
		}
		return nil
	})
	if got := l.received.Load(); got != 2 {
		t.Fatalf("received %d connections with a queue of 2, want 2", got)
	}
	first, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if n := l.received.Load(); n != 3 || l.Queued() != 2 {
			return fmt.Errorf("received %d, queued %d: want the third queued", n, l.Queued())
		}
		return nil
	})
	second, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	second.Close()
	defer acceptFrom(t, l, third).Close()
	if c := l.Counters(); c.AcceptQueueRefused != 0 || c.AcceptQueueStalls == 0 {
		t.Fatalf("counters %+v, want stalls and nothing refused", c)
	}
}
