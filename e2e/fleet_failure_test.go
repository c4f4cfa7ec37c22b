package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/stickyd/stickyd/internal/redistest"
	"github.com/stickyd/stickyd/internal/testutil"
)

// twoHostFleet is a fleet of two stickyd hosts (2 and 1 workers) on a
// fresh Redis, a sender client on host a, and a member of room on each
// host.
type twoHostFleet struct {
	redis                 *redistest.Server
	a, b                  *cluster
	sender, local, remote *sioClient
}

func startTwoHostFleet(t *testing.T, room string) *twoHostFleet {
	t.Helper()
	f := &twoHostFleet{redis: redistest.Start(t)}
	f.a = startRedisHost(t, f.redis.URL, 2)
	f.b = startRedisHost(t, f.redis.URL, 1)
	waitFleetServers(t, 3, f.a, f.b)
	f.sender = fleetClient(t, f.a.Addr, "")
	f.local = fleetClient(t, f.a.Addr, room)
	f.remote = fleetClient(t, f.b.Addr, room)
	return f
}

// fleetClient dials addr and joins room (unless empty).
func fleetClient(t *testing.T, addr, room string) *sioClient {
	t.Helper()
	c, err := dialSIO(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if room != "" {
		if _, err := c.EmitAck(5*time.Second, "join", room); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// emitTo has c's worker broadcast event with seq to room.
func emitTo(t *testing.T, c *sioClient, room, event string, seq int) {
	t.Helper()
	target := map[string]any{"to": []string{room}, "except": []string{}}
	if _, err := c.EmitAck(5*time.Second, "op-emit", target, event, seq); err != nil {
		t.Fatal(err)
	}
}

// nextSeq waits up to d for event and returns its argument; -1 when none
// arrived.
func nextSeq(c *sioClient, event string, d time.Duration) int {
	deadline := time.After(d)
	for {
		select {
		case ev := <-c.Packets():
			if ev.Name != event || len(ev.Args) == 0 {
				continue
			}
			var n int
			if json.Unmarshal(ev.Args[0], &n) == nil {
				return n
			}
		case <-deadline:
			return -1
		}
	}
}

// redisMetric reads stickyd_redis_<name> of host h.
func redisMetric(t *testing.T, h *cluster, name string) float64 {
	t.Helper()
	return testutil.MetricSum(testutil.Scrape(t, metricsBase(t, h)+"/metrics"), "stickyd_redis_"+name)
}

func fdCount(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// Redis killed and restarted in the middle of a fan-out through stickyd:
// delivery within the host never stops, delivery to the other host
// resumes within 2 s of Redis's return, a fleet request while Redis is
// down returns the local answer in bounded time, the metrics and logs
// tell, and the primary's descriptors stay flat meanwhile.
func TestFleetRedisRestart(t *testing.T) {
	f := startTwoHostFleet(t, "r")
	r, a, sender, local, remote := f.redis, f.a, f.sender, f.local, f.remote
	seq := 0
	tick := func() {
		seq++
		emitTo(t, sender, "r", "tick", seq)
		if got := nextSeq(local, "tick", 2*time.Second); got != seq {
			t.Fatalf("local receiver got tick %d, want %d (Redis up: %v)", got, seq, redisMetric(t, a, "up"))
		}
	}
	tick()
	if got := nextSeq(remote, "tick", 2*time.Second); got != seq {
		t.Fatalf("remote receiver got tick %d before the outage, want %d", got, seq)
	}

	r.Kill()
	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		tick()
		if up := redisMetric(t, a, "up"); up != 0 {
			return fmt.Errorf("stickyd_redis_up %v while Redis is down", up)
		}
		return nil
	})
	fds := fdCount(t, a.PID())
	for range 20 {
		tick()
	}
	if got := fdCount(t, a.PID()); got > fds+2 {
		t.Fatalf("primary descriptors grew from %d to %d while Redis was down", fds, got)
	}
	// a fleet request while Redis is down: the local answer, in bounded time
	start := time.Now()
	ack, err := sender.EmitAck(10*time.Second, "op-fetch", map[string]any{"to": []string{"r"}, "except": []string{}})
	if err != nil {
		t.Fatalf("fetchSockets while Redis is down: %v", err)
	}
	var fetched [][]struct{ ID string }
	if json.Unmarshal(ack, &fetched) != nil || len(fetched) != 1 || len(fetched[0]) != 1 {
		t.Fatalf("fetchSockets while Redis is down: %s, want the local socket", ack)
	}
	t.Logf("fetchSockets while Redis is down answered in %v", time.Since(start))

	r.Restart()
	restarted := time.Now()
	for {
		tick()
		if got := nextSeq(remote, "tick", 50*time.Millisecond); got >= 0 {
			for got >= 0 && got < seq { // ticks queued before the return may come first
				got = nextSeq(remote, "tick", 500*time.Millisecond)
			}
			if got == seq {
				break
			}
		}
		if time.Since(restarted) > 2*time.Second+redisRestartSlack {
			t.Fatalf("remote delivery not back %v after Redis restarted\n%s", time.Since(restarted), a.Logs())
		}
	}
	t.Logf("remote delivery back %v after Redis restarted", time.Since(restarted))
	testutil.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		if up, n := redisMetric(t, a, "up"), redisMetric(t, a, "reconnects_total"); up != 1 || n < 1 {
			return fmt.Errorf("stickyd_redis_up %v, reconnects %v", up, n)
		}
		return nil
	})
	for _, line := range []string{"redis down", "redis up again"} {
		if n := len(regexp.MustCompile(regexp.QuoteMeta(line)).FindAllString(a.Logs(), -1)); n != 1 {
			t.Fatalf("%d %q log lines, want 1\n%s", n, line, a.Logs())
		}
	}
}

// redisRestartSlack is the time redis-server itself may take to accept
// connections after Restart returns (none: Restart waits for a PING).
const redisRestartSlack = 0

// A broadcast from a worker to a room held on another host is one Redis
// message (INFO commandstats counts PUBLISH calls), and reaches the room's
// sockets on both hosts once.
func TestFleetOnePublishPerBroadcast(t *testing.T) {
	f := startTwoHostFleet(t, "p")
	r, sender, local, remote := f.redis, f.sender, f.local, f.remote
	rc := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rc.Close()
	publishes := func() int {
		info, err := rc.Info(context.Background(), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`cmdstat_publish:calls=(\d+)`).FindStringSubmatch(info)
		if m == nil {
			return 0
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	const n = 20
	before := publishes()
	for i := 1; i <= n; i++ {
		emitTo(t, sender, "p", "pub", i)
	}
	for i := 1; i <= n; i++ {
		for _, c := range []*sioClient{local, remote} {
			if got := nextSeq(c, "pub", 5*time.Second); got != i {
				t.Fatalf("receiver got %d, want %d", got, i)
			}
		}
	}
	if got := publishes() - before; got != n {
		t.Fatalf("%d broadcasts took %d PUBLISH calls, want %d", n, got, n)
	}
	for _, c := range []*sioClient{local, remote} {
		if got := nextSeq(c, "pub", 100*time.Millisecond); got != -1 {
			t.Fatalf("a broadcast arrived twice: %d", got)
		}
	}
}
