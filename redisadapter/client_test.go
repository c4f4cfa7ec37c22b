package redisadapter

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// event is one event a test client received ("disconnect" for the
// server's DISCONNECT).
type event struct {
	Name string
	Args []json.RawMessage
	Bins [][]byte
}

// wsClient is the shared Socket.IO test client, named: it acks "question"
// with "ack-<name>" (unless its name starts with "mute").
type wsClient struct {
	*testutil.SIOClient
	name string
}

func dialClient(t testing.TB, addr, name string) *wsClient {
	t.Helper()
	return dialClientNsp(t, addr, name, "")
}

// dialClientNsp connects to namespace nsp ("" for "/") and waits for the
// refapp's "auth".
func dialClientNsp(t testing.TB, addr, name, nsp string) *wsClient {
	t.Helper()
	sio, err := testutil.DialSIO(addr, testutil.SIOOptions{Query: "who=" + name, Namespace: nsp, OnEvent: answerQuestion(name)})
	if err != nil {
		t.Fatal(err)
	}
	c := &wsClient{SIOClient: sio, name: name}
	t.Cleanup(c.close)
	if err := c.Connect(`{"name":"` + name + `"}`); err != nil {
		t.Fatal(err)
	}
	ev := c.next(t, 5*time.Second)
	if ev.Name != "auth" {
		t.Fatalf("first event %q, want auth", ev.Name)
	}
	return c
}

// answerQuestion acks "question" with "ack-<name>" unless name starts with
// "mute".
func answerQuestion(name string) func(*testutil.SIOClient, testutil.SIOPacket) {
	return func(c *testutil.SIOClient, p testutil.SIOPacket) {
		if p.ID >= 0 && p.Name == "question" && !strings.HasPrefix(name, "mute") {
			_ = c.Ack(p.ID, "ack-"+name)
		}
	}
}

func (c *wsClient) close() { c.Close() }

func (c *wsClient) id() string { return c.Sid() }

// next returns the next event, failing the test after timeout.
func (c *wsClient) next(t testing.TB, timeout time.Duration) event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case p := <-c.Packets():
			switch p.Type {
			case '1':
				return event{Name: "disconnect"}
			case '2', '5':
				if p.Args != nil {
					return event{Name: p.Name, Args: p.Args, Bins: p.Bins}
				}
			}
		case <-deadline:
			t.Fatalf("%s: no event within %v", c.name, timeout)
		}
	}
}

// expectEvent waits for event name (others are skipped), then returns it.
func (c *wsClient) expectEvent(t testing.TB, name string) event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev := c.next(t, time.Until(deadline))
		if ev.Name == name {
			return ev
		}
	}
}

// expectNone fails if event name arrives within d (others are skipped).
func (c *wsClient) expectNone(t testing.TB, name string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case p := <-c.Packets():
			if (p.Type == '2' || p.Type == '5') && p.Name == name {
				t.Fatalf("%s: unexpected %s %s", c.name, name, p.Args)
			}
		case <-deadline:
			return
		}
	}
}

// call emits event with args and returns its ack's arguments (a JSON array).
func (c *wsClient) call(t testing.TB, event string, args ...any) json.RawMessage {
	t.Helper()
	a, err := c.EmitAck(10*time.Second, event, args...)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return a
}

// callInto calls and decodes the ack's first argument into v.
func (c *wsClient) callInto(t testing.TB, v any, event string, args ...any) {
	t.Helper()
	a := c.call(t, event, args...)
	var arr []json.RawMessage
	if err := json.Unmarshal(a, &arr); err != nil || len(arr) == 0 {
		t.Fatalf("%s ack %s: %v", event, a, err)
	}
	if err := json.Unmarshal(arr[0], v); err != nil {
		t.Fatalf("%s ack %s: %v", event, a, err)
	}
}
