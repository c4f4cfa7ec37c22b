//go:build linux && !stickyd_portable

package engineio

import (
	"bufio"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// inPollSet reports whether fd is in the epoll set of s's readPoller
// (read from /proc/self/fdinfo of the epoll fd; false when the poller is
// not running).
func inPollSet(t *testing.T, s *Server, fd int) bool {
	t.Helper()
	p := s.readPoll
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return false
	}
	f, err := os.Open(fmt.Sprintf("/proc/self/fdinfo/%d", p.epfd))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var tfd int
		if _, err := fmt.Sscanf(sc.Text(), "tfd: %d", &tfd); err == nil && tfd == fd {
			return true
		}
	}
	return false
}

// TestWokenSocketLeavesPollSet: a parked websocket is in the poller's
// level-triggered epoll set; the socket a message woke is out of it for
// as long as its reader has it (the reader blocked in a callback, more
// bytes waiting unread: were it still in the set, the poller would wake
// for it on every wait), and back in it once the reader parks again.
func TestWokenSocketLeavesPollSet(t *testing.T) {
	srv := NewServer(Options{PingInterval: time.Hour, PingTimeout: time.Hour})
	srv.idleAfter = 10 * time.Millisecond
	got, release := make(chan string, 2), make(chan struct{})
	srv.OnConnection(func(so *Socket) {
		so.OnMessage(func(data []byte, _ bool) {
			got <- string(data)
			<-release
		})
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); ts.Close() })
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + srv.Options().Path + "?EIO=4&transport=websocket"
	ws := dialWS(t, url)
	ws.mustRead()
	waitParked(t, srv, 1)
	so := srv.snapshot()[0]
	so.mu.Lock()
	fd := so.ws.fd
	so.mu.Unlock()
	other := dialWS(t, url) // stays parked: the poller keeps running
	other.mustRead()
	waitParked(t, srv, 2)
	if !inPollSet(t, srv, fd) {
		t.Fatal("a parked socket is not in the poll set")
	}
	ws.send("4a")
	if m := <-got; m != "a" {
		t.Fatalf("got %q, want a", m)
	}
	ws.send("4b") // waits unread while the reader is in the callback
	if inPollSet(t, srv, fd) {
		t.Fatal("the socket is in the poll set while its reader has it")
	}
	close(release)
	if m := <-got; m != "b" {
		t.Fatalf("got %q, want b", m)
	}
	waitParked(t, srv, 2)
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
		if !inPollSet(t, srv, fd) {
			return fmt.Errorf("parked again, not in the poll set")
		}
		return nil
	})
}
