package redisadapter

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/socketio"
)

// Redis killed and restarted during a fan-out: the sending peer's own
// client gets every tick in order throughout; the other peer's client gets
// ticks again within 2 s of the restart; while Redis is down goroutines and
// fds do not grow and fleet requests fail at once with ErrUnavailable.
func TestRedisKilledDuringFanout(t *testing.T) {
	testutil.CheckNoLeaks(t)
	r := startRedis(t)
	a := startGoPeer(t, r.URL, "go-a")
	b := startGoPeer(t, r.URL, "go-b")
	ca := dialClient(t, a.addr, "ca")
	cb := dialClient(t, b.addr, "cb")
	ca.call(t, "join", "fan")
	cb.call(t, "join", "fan")

	var mu sync.Mutex
	sent := 0
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			mu.Lock()
			_ = a.io.To("fan").Emit("tick", sent)
			sent++
			mu.Unlock()
		}
	}()
	sentNow := func() int { mu.Lock(); defer mu.Unlock(); return sent }
	remoteTick := func(after int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			ev := cb.next(t, time.Until(deadline))
			var seq int
			_ = json.Unmarshal(ev.Args[0], &seq)
			if seq >= after {
				return
			}
		}
	}
	remoteTick(0, 2*time.Second)

	r.Kill()
	testutil.CheckFor(t, 2*time.Second, 10*time.Millisecond, func() error {
		if a.peer.Stats().Up {
			return errors.New("peer a still up")
		}
		return nil
	})
	time.Sleep(200 * time.Millisecond) // let the reconnect loops reach their steady state
	goroutines, fds := runtime.NumGoroutine(), testutil.FDCount(t)
	start := time.Now()
	_, err := a.io.FetchSockets(context.Background())
	if !errors.Is(err, ErrUnavailable) || time.Since(start) > time.Second {
		t.Fatalf("FetchSockets with redis down: %v after %v", err, time.Since(start))
	}
	if n, err := a.io.ServerCount(context.Background()); n != 1 || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ServerCount with redis down: %d %v", n, err)
	}
	time.Sleep(time.Second) // down for a while, fan-out going on
	if g, f := runtime.NumGoroutine(), testutil.FDCount(t); g > goroutines+2 || f > fds+2 {
		t.Fatalf("while redis is down goroutines %d -> %d, fds %d -> %d", goroutines, g, fds, f)
	}

	r.Restart()
	restarted := sentNow()
	remoteTick(restarted, 2*time.Second)
	close(stop)
	<-stopped

	// local delivery never stopped: ca got every tick, in order, once
	total := sentNow()
	for want := 0; want < total; want++ {
		ev := ca.expectEvent(t, "tick")
		var seq int
		_ = json.Unmarshal(ev.Args[0], &seq)
		if seq != want {
			t.Fatalf("local client got tick %d, want %d", seq, want)
		}
	}
	testutil.CheckFor(t, 3*time.Second, 10*time.Millisecond, func() error {
		for _, p := range []*goPeer{a, b} {
			if s := p.peer.Stats(); !s.Up || s.Reconnects < 1 {
				return errors.New(p.name + ": not reconnected")
			}
		}
		return nil
	})
}

// A Redis that accepts connections and never answers (a hung server, a
// black-holed proxy): a fleet request ends when its context does, not
// after go-redis' own read timeout, with the local results and an error
// wrapping ErrUnavailable; creating a namespace waits at most
// subscribeTimeout.
func TestSilentRedisHonoursContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	var mu sync.Mutex
	var held []net.Conn
	conns.Add(1)
	go func() {
		defer conns.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		conns.Wait()
		for _, c := range held {
			c.Close()
		}
	}()
	p, err := New(Options{URL: "redis://" + ln.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	io := socketio.NewServer(socketio.Options{Adapter: p.Adapter}) // subscribes "/"
	defer io.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("creating a namespace took %v", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = io.FetchSockets(ctx)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("FetchSockets on a silent redis: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("FetchSockets with a 200 ms context took %v", d)
	}
}
