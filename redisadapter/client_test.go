package redisadapter

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// event is one event a test client received.
type event struct {
	Name string
	Args []json.RawMessage
	Bins [][]byte
}

// wsClient is a minimal Socket.IO v5 client over websocket for tests: it
// answers pings, records events, acks "question" with its name (unless
// its name starts with "mute").
type wsClient struct {
	name   string
	ws     *websocket.Conn
	wmu    sync.Mutex
	mu     sync.Mutex
	acks   map[int]chan json.RawMessage
	nextID int
	events chan event
	done   chan struct{}
	sid    string
	nsp    string // "" for "/"
}

func dialClient(t testing.TB, addr, name string) *wsClient {
	t.Helper()
	return dialClientNsp(t, addr, name, "")
}

// dialClientNsp connects to namespace nsp ("" for "/").
func dialClientNsp(t testing.TB, addr, name, nsp string) *wsClient {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket&who="+name, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &wsClient{name: name, ws: ws, acks: map[int]chan json.RawMessage{}, events: make(chan event, 4096), done: make(chan struct{}), nsp: nsp}
	t.Cleanup(c.close)
	prefix := ""
	if nsp != "" {
		prefix = nsp + ","
	}
	if err := c.write(`40` + prefix + `{"name":"` + name + `"}`); err != nil {
		t.Fatal(err)
	}
	go c.read()
	ev := c.next(t, 5*time.Second)
	if ev.Name != "auth" {
		t.Fatalf("first event %q, want auth", ev.Name)
	}
	return c
}

func (c *wsClient) close() { _ = c.ws.Close(); <-c.done }

func (c *wsClient) write(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, []byte(s))
}

func (c *wsClient) read() {
	defer close(c.done)
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		s := c.stripNamespace(string(msg))
		switch {
		case s == "2":
			_ = c.write("3")
		case strings.HasPrefix(s, "40"):
			var v struct{ Sid string }
			_ = json.Unmarshal([]byte(s[2:]), &v)
			c.mu.Lock()
			c.sid = v.Sid
			c.mu.Unlock()
		case strings.HasPrefix(s, "41"):
			c.events <- event{Name: "disconnect"}
		case strings.HasPrefix(s, "42"):
			c.onEvent(s[2:], nil)
		case strings.HasPrefix(s, "45"):
			dash := strings.IndexByte(s, '-')
			n, _ := strconv.Atoi(s[2:dash])
			var bins [][]byte
			for range n {
				_, b, err := c.ws.ReadMessage()
				if err != nil {
					return
				}
				bins = append(bins, b)
			}
			c.onEvent(s[dash+1:], bins)
		case strings.HasPrefix(s, "43"):
			i := strings.IndexByte(s, '[')
			id, err := strconv.Atoi(s[2:i])
			if err != nil {
				continue
			}
			c.mu.Lock()
			ch := c.acks[id]
			delete(c.acks, id)
			c.mu.Unlock()
			if ch != nil {
				ch <- json.RawMessage(s[i:])
			}
		}
	}
}

// stripNamespace removes the client's namespace from a packet.
func (c *wsClient) stripNamespace(s string) string {
	if c.nsp == "" || len(s) < 2 {
		return s
	}
	p := c.nsp + ","
	if strings.HasPrefix(s[2:], p) {
		return s[:2] + s[2+len(p):]
	}
	if d := strings.IndexByte(s, '-'); strings.HasPrefix(s, "45") && d > 0 && strings.HasPrefix(s[d+1:], p) {
		return s[:d+1] + s[d+1+len(p):]
	}
	return s
}

// onEvent records an event; text is "[id]json".
func (c *wsClient) onEvent(text string, bins [][]byte) {
	i := strings.IndexByte(text, '[')
	if i < 0 {
		return
	}
	var arr []json.RawMessage
	if json.Unmarshal([]byte(text[i:]), &arr) != nil || len(arr) == 0 {
		return
	}
	var name string
	_ = json.Unmarshal(arr[0], &name)
	if i > 0 && name == "question" && !strings.HasPrefix(c.name, "mute") {
		_ = c.write("43" + text[:i] + `["ack-` + c.name + `"]`)
	}
	c.events <- event{Name: name, Args: arr[1:], Bins: bins}
}

func (c *wsClient) id() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sid
}

// next returns the next event, failing the test after timeout.
func (c *wsClient) next(t testing.TB, timeout time.Duration) event {
	t.Helper()
	select {
	case ev := <-c.events:
		return ev
	case <-time.After(timeout):
		t.Fatalf("%s: no event within %v", c.name, timeout)
	}
	return event{}
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
		case ev := <-c.events:
			if ev.Name == name {
				t.Fatalf("%s: unexpected %s %s", c.name, name, ev.Args)
			}
		case <-deadline:
			return
		}
	}
}

// call emits event with args and returns its ack's arguments (a JSON array).
func (c *wsClient) call(t testing.TB, event string, args ...any) json.RawMessage {
	t.Helper()
	all, err := json.Marshal(append([]any{event}, args...))
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan json.RawMessage, 1)
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	c.acks[id] = ch
	c.mu.Unlock()
	if err := c.write(fmt.Sprintf("42%d%s", id, all)); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-ch:
		return a
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: %s: no ack", c.name, event)
	}
	return nil
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
