package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// clientsByPid connects websocket clients until each of n workers holds at
// least per of them.
func clientsByPid(t *testing.T, c *cluster, n, per int) map[int][]*sioClient {
	t.Helper()
	by := map[int][]*sioClient{}
	enough := func() bool {
		if len(by) < n {
			return false
		}
		for _, l := range by {
			if len(l) < per {
				return false
			}
		}
		return true
	}
	for i := 0; !enough(); i++ {
		if i > 50*n*per {
			t.Fatalf("could not place %d clients on each of %d workers", per, n)
		}
		cl, err := dialSIO(c.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		pid, err := whoamiPID(cl)
		if err != nil {
			t.Fatal(err)
		}
		by[pid] = append(by[pid], cl)
	}
	return by
}

// A worker SIGKILLed while broadcasts flow: the survivors' clients lose
// nothing, and cluster requests issued right after the kill resolve at once
// with the live workers' answers instead of waiting for the 5 s timeout.
func TestWorkerKilledWhileBroadcastsFlow(t *testing.T) {
	c := startCluster(t, 3, nil)
	by := clientsByPid(t, c, 3, 2)
	var victim int
	var survivors []*sioClient
	for pid, l := range by {
		if victim == 0 {
			victim = pid
			continue
		}
		survivors = append(survivors, l...)
	}
	room := "kill-room"
	for _, l := range by {
		for _, cl := range l {
			if _, err := cl.EmitAck(5*time.Second, "join", room); err != nil {
				t.Fatal(err)
			}
		}
	}
	sender := survivors[0]
	const total = 200
	for i := 0; i < total; i++ {
		if i == total/2 {
			if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			a, err := sender.EmitAck(5*time.Second, "server-ping")
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			t.Logf("server-ping right after SIGKILL answered %s in %v", a, took)
			if string(a) != "[1]" {
				t.Errorf("server-ping after kill = %s, want [1] (one live peer)", a)
			}
			if took > 2*time.Second {
				t.Errorf("server-ping took %v: it waited for the dead worker", took)
			}
			a, err = sender.EmitAck(5*time.Second, "count", room)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("[%d]", len(survivors)); string(a) != want {
				t.Errorf("count after kill = %s, want %s", a, want)
			}
		}
		if _, err := sender.EmitAck(5*time.Second, "broadcast", room, fmt.Sprintf("m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, cl := range survivors {
		got := make([]string, 0, total)
		deadline := time.After(10 * time.Second)
		for len(got) < total {
			select {
			case ev := <-cl.Packets():
				if ev.Name != "bcast" {
					continue
				}
				var p string
				_ = json.Unmarshal(ev.Args[0], &p)
				got = append(got, p)
			case <-deadline:
				t.Fatalf("survivor got %d of %d broadcasts; last %v", len(got), total, got[max(0, len(got)-3):])
			}
		}
		for i, p := range got {
			if p != fmt.Sprintf("m%d", i) {
				t.Fatalf("survivor broadcast %d = %q (lost, duplicated or reordered)", i, p)
			}
		}
	}
	// the killed slot comes back
	testutil.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		if n := strings.Count(c.Logs(), "worker ready"); n < 4 {
			return fmt.Errorf("%d ready lines, want the respawned worker's too", n)
		}
		return nil
	})
}
