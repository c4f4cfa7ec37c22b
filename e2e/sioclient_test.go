package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// sioClient is a Socket.IO v5 client over a direct WebSocket: it answers
// pings, matches acks by id and queues events, on a reader goroutine.
type sioClient struct {
	ws     *websocket.Conn
	wmu    sync.Mutex
	mu     sync.Mutex
	nextID int
	acks   map[int]chan json.RawMessage
	events chan sioEvent
	done   chan struct{}
}

type sioEvent struct {
	Name string
	Args []json.RawMessage
}

// dialSIO connects to the main namespace and waits for the refapp's "auth".
func dialSIO(addr string) (*sioClient, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		return nil, err
	}
	c := &sioClient{ws: ws, acks: map[int]chan json.RawMessage{}, events: make(chan sioEvent, 1024), done: make(chan struct{})}
	if err := c.write("40"); err != nil {
		ws.Close()
		return nil, err
	}
	go c.read()
	select {
	case ev := <-c.events:
		if ev.Name != "auth" {
			ws.Close()
			return nil, fmt.Errorf("first event %q, want auth", ev.Name)
		}
	case <-c.done:
		return nil, fmt.Errorf("closed before auth")
	case <-time.After(5 * time.Second):
		ws.Close()
		return nil, fmt.Errorf("no auth event within 5s")
	}
	return c, nil
}

func (c *sioClient) write(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, []byte(s))
}

func (c *sioClient) read() {
	defer close(c.done)
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		s := string(msg)
		switch {
		case s == "2":
			_ = c.write("3")
		case strings.HasPrefix(s, "42"):
			var arr []json.RawMessage
			if json.Unmarshal([]byte(s[2:]), &arr) == nil && len(arr) > 0 {
				var name string
				_ = json.Unmarshal(arr[0], &name)
				c.events <- sioEvent{Name: name, Args: arr[1:]}
			}
		case strings.HasPrefix(s, "43"):
			i := strings.IndexByte(s, '[')
			if i < 0 {
				continue
			}
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

// emitAck emits event with args and returns the ack's arguments (a JSON
// array), or an error after timeout.
func (c *sioClient) emitAck(timeout time.Duration, event string, args ...any) (json.RawMessage, error) {
	all, err := json.Marshal(append([]any{event}, args...))
	if err != nil {
		return nil, err
	}
	ch := make(chan json.RawMessage, 1)
	c.mu.Lock()
	id := c.nextID
	c.nextID++
	c.acks[id] = ch
	c.mu.Unlock()
	if err := c.write(fmt.Sprintf("42%d%s", id, all)); err != nil {
		return nil, err
	}
	select {
	case a := <-ch:
		return a, nil
	case <-c.done:
		return nil, fmt.Errorf("%s: connection closed", event)
	case <-time.After(timeout):
		return nil, fmt.Errorf("%s: no ack within %v", event, timeout)
	}
}

// pid asks whoami.
func (c *sioClient) pid() (int, error) {
	a, err := c.emitAck(5*time.Second, "whoami")
	if err != nil {
		return 0, err
	}
	var res []struct{ PID int }
	if err := json.Unmarshal(a, &res); err != nil || len(res) != 1 {
		return 0, fmt.Errorf("whoami ack %s: %v", a, err)
	}
	return res[0].PID, nil
}

func (c *sioClient) close() { c.ws.Close() }
