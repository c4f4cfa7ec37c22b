package workertest_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/worker"
	"github.com/stickyd/stickyd/worker/workertest"
)

// TestEnvironment: the environment names are package worker's, the
// socket directory is private and Close removes it.
func TestEnvironment(t *testing.T) {
	testutil.CheckNoLeaks(t)
	p, err := workertest.New(workertest.Options{Instance: 9, WorkerID: 2, Workers: 3, Generation: 4})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{worker.EnvInstance: "9", worker.EnvWorkerID: "2", worker.EnvWorkers: "3", worker.EnvGeneration: "4"}
	for k, v := range want {
		if got := p.Getenv(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	for _, k := range []string{worker.EnvSocket, worker.EnvHubSocket, worker.EnvSecret} {
		if p.Getenv(k) == "" {
			t.Errorf("%s not set", k)
		}
	}
	if n := len(p.Environ()); n != 7 {
		t.Errorf("Environ has %d variables, want 7", n)
	}
	dir := filepath.Dir(p.Getenv(worker.EnvSocket))
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("socket directory: %v %v", fi, err)
	}
	p.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory left after Close: %v", err)
	}
}

// TestRefusesWrongSecret: a worker with another secret gets no Welcome
// (worker.ErrHandshake) and Hello reports ErrBadHello.
func TestRefusesWrongSecret(t *testing.T) {
	testutil.CheckNoLeaks(t)
	p, err := workertest.New(workertest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	getenv := func(k string) string {
		if k == worker.EnvSecret {
			return "00000000000000000000000000000000000000000000000000000000000000ff"
		}
		return p.Getenv(k)
	}
	if _, err := worker.ListenOptions(worker.Options{Getenv: getenv}); !errors.Is(err, worker.ErrHandshake) {
		t.Fatalf("Listen: %v, want ErrHandshake", err)
	}
	if _, err := p.Hello(); !errors.Is(err, workertest.ErrBadHello) {
		t.Fatalf("Hello: %v, want ErrBadHello", err)
	}
}

// TestHubHandBackDrain: the hub link is checked, a kept-alive connection
// handed back arrives with its prefix, Drain reaches the worker.
func TestHubHandBackDrain(t *testing.T) {
	testutil.CheckNoLeaks(t)
	p, err := workertest.New(workertest.Options{Instance: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	l, err := worker.ListenOptions(worker.Options{Getenv: p.Getenv, Exit: func(int) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	hub, err := l.DialHub()
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	if _, err := p.AcceptHub(); err != nil {
		t.Fatal(err)
	}
	hello, err := p.Hello()
	if err != nil || hello.Instance != 3 || hello.PID != uint32(os.Getpid()) {
		t.Fatalf("hello %+v, %v", hello, err)
	}
	go http.Serve(l, l.Handler(http.NotFoundHandler()))
	other, err := ipc.NewSID(4)
	if err != nil {
		t.Fatal(err)
	}
	client, id, err := p.DialPrefix([]byte("GET /?sid=" + other))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	fmt.Fprint(client, " HTTP/1.1\r\nHost: x\r\n\r\n")
	m, back, err := p.HandBack()
	if err != nil {
		t.Fatal(err)
	}
	back.Close()
	if want := "GET /?sid=" + other + " HTTP/1.1\r\n"; m.ConnID != id || !strings.HasPrefix(string(m.Prefix), want) {
		t.Fatalf("hand-back %+v, want conn %d with a prefix starting %q", m, id, want)
	}
	if err := p.Drain(0); err != nil {
		t.Fatal(err)
	}
	<-l.Draining()
}

// Bad input: a hub link whose first frame is no Hello gets ErrBadHello
// from AcceptHub and is closed at once (the worker reads EOF).
func TestAcceptHubRefusesBadHello(t *testing.T) {
	testutil.CheckNoLeaks(t)
	p, err := workertest.New(workertest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("unix", p.Getenv(worker.EnvHubSocket))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("\x00\x00\x00\x05garbage")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AcceptHub(); !errors.Is(err, workertest.ErrBadHello) {
		t.Fatalf("AcceptHub: %v, want ErrBadHello", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the refused link read %d bytes, %v; want EOF", n, err)
	}
}
