package testutil

import (
	"maps"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExitStatuses: each instance's last "worker exited" line counts;
// other lines do not.
func TestExitStatuses(t *testing.T) {
	logs := `2026-12-06T04:22:23.354Z [INFO]  worker started: slot=1 instance=1 pid=5933 generation=0
2026-12-06T04:22:23.354Z [INFO]  worker exited: instance=1 pid=5933 slot=1 status="signal: killed"
2026-12-06T04:22:23.354Z [INFO]  worker exited: instance=2 pid=5934 slot=2 status="exit status 0"
2026-12-06T04:22:24.000Z [INFO]  worker exited: instance=1 pid=5933 slot=1 status="exit status 0"
`
	want := map[string]string{"1": "exit status 0", "2": "exit status 0"}
	if got := ExitStatuses(logs); !maps.Equal(got, want) {
		t.Errorf("ExitStatuses = %v, want %v", got, want)
	}
	if got := ExitStatuses("no exits here"); len(got) != 0 {
		t.Errorf("ExitStatuses of no exit lines = %v, want empty", got)
	}
}

// TestNotifySocketNotices: NextNotice passes over pings (counting them)
// and bare STATUS= updates; WaitWatchdogs counts on from there and fails
// on any other datagram; Next fails after Wait with nothing to read.
func TestNotifySocketNotices(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	ns := ListenNotify(t, path)
	ns.Wait = 2 * time.Second
	c, err := net.Dial("unixgram", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send := func(msgs ...string) {
		for _, m := range msgs {
			if _, err := c.Write([]byte(m)); err != nil {
				t.Fatal(err)
			}
		}
	}
	send("WATCHDOG=1", "STATUS=starting", "WATCHDOG=1", "READY=1\nSTATUS=up")
	if got := ns.NextNotice(); got != "READY=1\nSTATUS=up" || ns.Watchdogs != 2 {
		t.Fatalf("NextNotice = %q with %d pings, want READY=1 with 2", got, ns.Watchdogs)
	}
	send("STATUS=x", "WATCHDOG=1", "WATCHDOG=1")
	ns.WaitWatchdogs(4)
	send("STOPPING=1")
	r := newRecorder(t)
	r.run(func(tb testing.TB) {
		ns := &NotifySocket{Wait: ns.Wait, t: tb, conn: ns.conn}
		ns.WaitWatchdogs(5)
	})
	if !strings.Contains(r.fatal, `unexpected "STOPPING=1"`) {
		t.Errorf("WaitWatchdogs on STOPPING=1 failed with %q", r.fatal)
	}
	ns.Wait = 10 * time.Millisecond
	r.run(func(tb testing.TB) {
		ns := &NotifySocket{Wait: ns.Wait, t: tb, conn: ns.conn}
		ns.Next()
	})
	if !strings.Contains(r.fatal, "reading notify socket") {
		t.Errorf("Next with nothing sent failed with %q, want a read timeout", r.fatal)
	}
}
