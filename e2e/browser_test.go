package e2e

import (
	"fmt"
	"syscall"
	"testing"
)

// Two tabs on different workers join one room, see each other's messages
// and the room's member count; when one tab closes, the other's room list
// drops it.
func TestBrowserChatAcrossWorkers(t *testing.T) {
	browser := newBrowser(t)
	c := startDemo(t, 2)
	alice, bob := tabsOnTwoWorkers(t, browser, c.URL+"/room/demo?name=alice", c.URL+"/room/demo?name=bob")
	for _, tb := range []*tab{alice, bob} {
		tb.waitFor("upgrade to websocket", func(st demoState) error {
			if st.Transport != "websocket" {
				return fmt.Errorf("transport %q", st.Transport)
			}
			return nil
		})
	}
	alice.say("hello from worker A")
	bob.sees("alice: hello from worker A")
	bob.say("hi from worker B")
	alice.sees("bob: hi from worker B")
	alice.roomCount("demo", 2)
	bob.roomCount("demo", 2)
	alice.screenshot("two-workers")
	bob.screenshot("two-workers")

	bob.close()
	alice.roomCount("demo", 1)
	alice.screenshot("bob-left")
}

// A tab restricted to long-polling and one restricted to websocket both
// connect with that transport and talk to each other.
func TestBrowserPollingAndWebSocketTabs(t *testing.T) {
	browser := newBrowser(t)
	c := startDemo(t, 2)
	poll := openTab(t, browser, "polling", c.URL+"/room/transports?name=poller&transport=polling")
	ws := openTab(t, browser, "websocket", c.URL+"/room/transports?name=streamer&transport=websocket")
	if st := poll.connected(); st.Transport != "polling" {
		t.Fatalf("polling tab uses %q", st.Transport)
	}
	if st := ws.connected(); st.Transport != "websocket" {
		t.Fatalf("websocket tab uses %q", st.Transport)
	}
	poll.say("over long-polling")
	ws.sees("poller: over long-polling")
	ws.say("over websocket")
	poll.sees("streamer: over websocket")
	poll.roomCount("transports", 2)
	if st, _ := poll.state(); st.Transport != "polling" {
		t.Fatalf("polling tab upgraded to %q", st.Transport)
	}
	poll.screenshot("polling")
	ws.screenshot("websocket")
}

// A worker killed under a tab: the tab reconnects (to another worker or
// the restarted one), rejoins its room, and its room list counts both tabs
// again.
func TestBrowserWorkerKilledUnderTab(t *testing.T) {
	browser := newBrowser(t)
	c := startDemo(t, 2)
	victim, witness := tabsOnTwoWorkers(t, browser, c.URL+"/room/survive?name=victim", c.URL+"/room/survive?name=witness")
	killed := victim.roomCount("survive", 2).PID
	witnessPID := witness.connected().PID
	if err := syscall.Kill(killed, syscall.SIGKILL); err != nil {
		t.Fatalf("kill worker %d: %v", killed, err)
	}
	victim.waitFor("reconnected to a live worker", func(st demoState) error {
		if st.Status != "connected" || st.PID == killed || st.PID == 0 {
			return fmt.Errorf("status %q on pid %d (killed %d)", st.Status, st.PID, killed)
		}
		return nil
	})
	victim.roomCount("survive", 2)
	witness.roomCount("survive", 2)
	if st := witness.connected(); st.PID != witnessPID {
		t.Fatalf("witness tab moved from worker %d to %d", witnessPID, st.PID)
	}
	victim.say("back after the crash")
	witness.sees("victim: back after the crash")
	victim.screenshot("reconnected")
}
