package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
)

// TestNoLeakManyConns serves 1000 handed-off connections, 100 of them
// handed back, and checks fds, goroutines and the live count return to
// their starting values.
func TestNoLeakManyConns(t *testing.T) {
	p := newFakePrimary(t, 20, nil)
	l := p.listen(t)
	serveWorker(t, l, echoHandler)
	other, _ := ipc.NewSID(21)
	p.discard() // the fake primary closes what comes back
	one := func(i int) {
		cli, _ := p.dial(t, nil)
		target := "/"
		if i%10 == 0 {
			target = "/?sid=" + other
		}
		fmt.Fprintf(cli, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", target)
		br := bufio.NewReader(cli)
		if i%10 != 0 {
			if code, _ := readResponse(t, br); code != 200 {
				t.Fatalf("status %d", code)
			}
		}
		cli.Close()
	}
	for i := 1; i < 10; i++ { // warm up
		one(i)
	}
	settle := func() (int, int) {
		var fds, gs int
		prev := -1
		testutil.CheckFor(t, 3*time.Second, 10*time.Millisecond, func() error {
			l.mu.Lock()
			live := l.live
			l.mu.Unlock()
			fds, gs = testutil.FDCount(t), runtime.NumGoroutine()
			if live != 0 || fds != prev {
				prev = fds
				return fmt.Errorf("live %d, fds %d", live, fds)
			}
			return nil
		})
		return fds, gs
	}
	fds0, gs0 := settle()
	for i := 0; i < 1000; i++ {
		one(i)
	}
	testutil.CheckFor(t, 3*time.Second, 10*time.Millisecond, func() error {
		fds, gs := settle()
		if fds > fds0 || gs > gs0 {
			return fmt.Errorf("fds %d (was %d), goroutines %d (was %d)", fds, fds0, gs, gs0)
		}
		return nil
	})
	if got, want := l.received.Load(), uint64(1009); got != want {
		t.Fatalf("received %d, want %d", got, want)
	}
}

// TestServeDrains runs ServeListener and checks a Drain from the primary
// shuts it down after the in-flight request completes.
func TestServeDrains(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 30, nil)
	l, err := ListenOptions(Options{Getenv: p.getenv, Exit: func(int) { t.Error("exit") }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Hello(); err != nil {
		t.Fatal(err)
	}
	inHandler := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- ServeListener(context.Background(), l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(inHandler)
			<-release
			io.WriteString(w, "finished")
		}))
	}()
	p.next(t, ipc.MsgReady)
	cli, _ := p.dial(t, nil)
	io.WriteString(cli, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-inHandler
	p.send(t, &ipc.Message{Type: ipc.MsgDrain, DeadlineMS: 5000})
	<-l.Draining()
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v with a request in flight", err)
	default:
	}
	close(release)
	if code, body := readResponse(t, bufio.NewReader(cli)); code != 200 || body != "finished" {
		t.Fatalf("got %d %q", code, body)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	p.waitClosed(t) // the link closes once the last conn is gone
}

// TestServeContext checks that cancelling the context stops Serve.
func TestServeContext(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	t.Setenv(EnvSocket, "")
	t.Setenv("HOST", "127.0.0.1")
	t.Setenv("PORT", "0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, http.NotFoundHandler())
	}()
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
