package testutil

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// ErrSIOClosed is returned by SIOClient calls once its connection ended.
var ErrSIOClosed = errors.New("testutil: socket.io connection closed")

// SIOOptions says how DialSIO connects.
type SIOOptions struct {
	// Query is appended to the handshake's query ("who=a"); "" for none.
	Query string
	// Header is sent with the websocket handshake; nil for none.
	Header http.Header
	// Namespace is the one namespace the client speaks ("" or "/" for the
	// main one). Packets of other namespaces are dropped.
	Namespace string
	// OnEvent, when set, sees every event packet on the reader goroutine
	// before it is queued (to answer acks the server waits for).
	OnEvent func(c *SIOClient, p SIOPacket)
}

// SIOPacket is one Socket.IO packet of the client's namespace.
type SIOPacket struct {
	Type    byte              // '0' CONNECT ... '6' BINARY_ACK
	Payload string            // what follows the namespace: ack id, then Data
	ID      int               // the ack id; -1 when none
	Data    string            // the JSON payload
	Name    string            // the event name (events only)
	Args    []json.RawMessage // the event's arguments; nil unless a well-formed event
	Bins    [][]byte          // binary attachments
}

// SIOClient is a minimal Socket.IO v5 client over a direct websocket
// (Engine.IO v4, no polling): a reader goroutine answers pings, hands
// acks to the EmitAck waiting for them, records the CONNECT answer's sid
// and queues every other packet of its namespace for Packets.
//
// # Concurrency
//
// Its methods are safe for concurrent use. Close ends the reader goroutine
// and waits for it.
type SIOClient struct {
	ws        *websocket.Conn
	namespace string // "/" for the main one
	onEvent   func(*SIOClient, SIOPacket)
	writeMu   sync.Mutex
	mu        sync.Mutex
	sid       string
	nextID    int
	acks      map[int]chan json.RawMessage
	packets   chan SIOPacket
	closing   chan struct{}
	closeOnce sync.Once
	done      chan struct{}
}

// DialSIO opens a websocket to addr's /socket.io/ and starts the reader. It
// sends no CONNECT: call Connect.
func DialSIO(addr string, opts SIOOptions) (*SIOClient, error) {
	url := "ws://" + addr + "/socket.io/?EIO=4&transport=websocket"
	if opts.Query != "" {
		url += "&" + opts.Query
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial(url, opts.Header)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	namespace := opts.Namespace
	if namespace == "" {
		namespace = "/"
	}
	c := &SIOClient{
		ws: ws, namespace: namespace, onEvent: opts.OnEvent,
		acks: map[int]chan json.RawMessage{}, packets: make(chan SIOPacket, 4096),
		closing: make(chan struct{}), done: make(chan struct{}),
	}
	go c.read()
	return c, nil
}

// Close closes the connection and waits for the reader goroutine.
func (c *SIOClient) Close() {
	c.closeOnce.Do(func() { close(c.closing); _ = c.ws.Close() })
	<-c.done
}

// Done is closed when the connection ended.
func (c *SIOClient) Done() <-chan struct{} { return c.done }

// Packets delivers the queued packets, oldest first.
func (c *SIOClient) Packets() <-chan SIOPacket { return c.packets }

// Sid is the socket id of the last CONNECT answer ("" before one).
func (c *SIOClient) Sid() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sid
}

// Next returns the next queued packet, or an error after timeout.
func (c *SIOClient) Next(timeout time.Duration) (SIOPacket, error) {
	select {
	case p := <-c.packets:
		return p, nil
	case <-time.After(timeout):
		return SIOPacket{}, fmt.Errorf("%s: no packet within %v", c.namespace, timeout)
	}
}

// WriteText writes one raw Engine.IO text frame.
func (c *SIOClient) WriteText(s string) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, []byte(s))
}

// Send writes a Socket.IO packet of type typ ('0'...'6') with payload to
// the client's namespace.
func (c *SIOClient) Send(typ byte, payload string) error {
	prefix := ""
	if c.namespace != "/" {
		prefix = c.namespace + ","
	}
	return c.WriteText("4" + string(typ) + prefix + payload)
}

// Connect sends CONNECT with auth (a JSON object, "" for none).
func (c *SIOClient) Connect(auth string) error { return c.Send('0', auth) }

// Emit sends event with args (marshalled to JSON), asking no ack.
func (c *SIOClient) Emit(event string, args ...any) error {
	all, err := json.Marshal(append([]any{event}, args...))
	if err != nil {
		return err
	}
	return c.Send('2', string(all))
}

// Ack answers the event with ack id id with args.
func (c *SIOClient) Ack(id int, args ...any) error {
	all, err := json.Marshal(append([]any{}, args...))
	if err != nil {
		return err
	}
	return c.Send('3', strconv.Itoa(id)+string(all))
}

// EmitAck emits event with args and returns the ack's arguments (a JSON
// array), or an error when the connection ends or after timeout.
func (c *SIOClient) EmitAck(timeout time.Duration, event string, args ...any) (json.RawMessage, error) {
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
	if err := c.Send('2', strconv.Itoa(id)+string(all)); err != nil {
		return nil, err
	}
	select {
	case a := <-ch:
		return a, nil
	case <-c.done:
		return nil, fmt.Errorf("%s: %w", event, ErrSIOClosed)
	case <-time.After(timeout):
		return nil, fmt.Errorf("%s: no ack within %v", event, timeout)
	}
}

func (c *SIOClient) read() {
	defer close(c.done)
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		s := string(msg)
		if s == "2" {
			_ = c.WriteText("3")
			continue
		}
		if len(s) < 2 || s[0] != '4' {
			continue
		}
		p, ok, err := c.parse(s[1], s[2:])
		if err != nil {
			return
		}
		if ok && !c.deliver(p) {
			return
		}
	}
}

// parse splits a Socket.IO packet of type typ, reading its binary
// attachments; ok is false for packets of another namespace.
func (c *SIOClient) parse(typ byte, rest string) (SIOPacket, bool, error) {
	p := SIOPacket{Type: typ, ID: -1}
	if typ == '5' || typ == '6' {
		dash := strings.IndexByte(rest, '-')
		n, err := strconv.Atoi(rest[:max(dash, 0)])
		if err != nil {
			return p, false, nil
		}
		rest = rest[dash+1:]
		for range n {
			_, b, err := c.ws.ReadMessage()
			if err != nil {
				return p, false, err
			}
			p.Bins = append(p.Bins, b)
		}
	}
	namespace := "/"
	if strings.HasPrefix(rest, "/") {
		namespace, rest, _ = strings.Cut(rest, ",")
	}
	if namespace != c.namespace {
		return p, false, nil
	}
	p.Payload = rest
	digits := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
	if digits > 0 {
		p.ID, _ = strconv.Atoi(rest[:digits])
	}
	p.Data = rest[digits:]
	if typ == '2' || typ == '5' {
		var all []json.RawMessage
		if json.Unmarshal([]byte(p.Data), &all) == nil && len(all) > 0 {
			_ = json.Unmarshal(all[0], &p.Name)
			p.Args = all[1:]
		}
	}
	return p, true, nil
}

// deliver records a CONNECT answer's sid, hands an ack to its waiter and
// queues the rest; false when the client is closing.
func (c *SIOClient) deliver(p SIOPacket) bool {
	switch p.Type {
	case '0':
		var v struct{ Sid string }
		_ = json.Unmarshal([]byte(p.Data), &v)
		c.mu.Lock()
		c.sid = v.Sid
		c.mu.Unlock()
	case '3':
		c.mu.Lock()
		ch := c.acks[p.ID]
		delete(c.acks, p.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- json.RawMessage(p.Data)
			return true
		}
	case '2', '5':
		if c.onEvent != nil {
			c.onEvent(c, p)
		}
	}
	select {
	case c.packets <- p:
		return true
	case <-c.closing:
		return false
	}
}
