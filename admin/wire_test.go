package admin

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/socketio"
)

// wireClient is the shared Socket.IO test client on one namespace ("/" or
// "/admin"), speaking what @socket.io/admin-ui's UI (or a plain app
// client) sends, with test-failing helpers.
type wireClient struct {
	*testutil.SIOClient
	nsp string
}

func dialWire(t *testing.T, addr, nsp, auth string) *wireClient {
	t.Helper()
	return dialWireHeader(t, addr, nsp, auth, nil)
}

// dialWireHeader is dialWire with HTTP headers on the handshake.
func dialWireHeader(t *testing.T, addr, nsp, auth string, header http.Header) *wireClient {
	t.Helper()
	sio, err := testutil.DialSIO(addr, testutil.SIOOptions{Header: header, Namespace: nsp})
	if err != nil {
		t.Fatal(err)
	}
	c := &wireClient{SIOClient: sio, nsp: nsp}
	t.Cleanup(c.Close)
	c.send(t, "0", auth)
	return c
}

// send writes a Socket.IO packet of type typ with payload to the namespace.
func (c *wireClient) send(t *testing.T, typ, payload string) {
	t.Helper()
	if err := c.Send(typ[0], payload); err != nil {
		t.Fatal(err)
	}
}

// emit sends event with args (JSON values).
func (c *wireClient) emit(t *testing.T, event string, args ...string) {
	t.Helper()
	ev, _ := json.Marshal(event)
	c.send(t, "2", "["+strings.Join(append([]string{string(ev)}, args...), ",")+"]")
}

// packet returns the next packet (type digit, then payload).
func (c *wireClient) packet(t *testing.T) string {
	t.Helper()
	p, err := c.Next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return string(p.Type) + p.Payload
}

// connected waits for the CONNECT answer and returns the socket id.
func (c *wireClient) connected(t *testing.T) string {
	t.Helper()
	p := c.packet(t)
	var ack struct{ Sid string }
	if p[0] != '0' || json.Unmarshal([]byte(p[1:]), &ack) != nil || ack.Sid == "" {
		t.Fatalf("%s: %q, want a CONNECT answer", c.nsp, p)
	}
	return ack.Sid
}

// expect skips events until one named event whose first argument matches
// first ("" for any) and returns its arguments.
func (c *wireClient) expect(t *testing.T, event, first string) []json.RawMessage {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		p := c.packet(t)
		if p[0] != '2' {
			continue
		}
		var args []json.RawMessage
		if json.Unmarshal([]byte(p[1:]), &args) != nil || len(args) == 0 {
			t.Fatalf("%s: bad event %q", c.nsp, p)
		}
		if string(args[0]) != `"`+event+`"` {
			continue
		}
		if first == "" || (len(args) > 1 && string(args[1]) == first) {
			return args[1:]
		}
	}
	t.Fatalf("%s: no %s %s within 5 s", c.nsp, event, first)
	return nil
}

func startInstrumented(t *testing.T, opts Options) (*socketio.Server, *Admin, string) {
	t.Helper()
	base := testutil.TakeBaseline(t)
	t.Cleanup(func() { base.Check(t) }) // runs last: after the clients and the server closed
	io := socketio.NewServer(socketio.Options{})
	opts.RoomScanInterval = 10 * time.Millisecond
	a, err := Instrument(io, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(io)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		_ = a.Close()
		_ = io.Close()
	})
	return io, a, strings.TrimPrefix(srv.URL, "http://")
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// What the Admin UI 0.5.1 gets on the wire, event by event, and its
// actions applied: config and all_sockets on connecting, then
// socket_connected, room_joined (a server-side join and the UI's own),
// event_received, room_left, the UI's emit reaching the socket, and
// socket_disconnected after the UI's _disconnect.
func TestUIFeedAndActions(t *testing.T) {
	io, _, addr := startInstrumented(t, Options{ServerID: "w1"})
	ui := dialWire(t, addr, "/admin", "")
	ui.connected(t)
	config := ui.expect(t, "config", "")
	var cfg struct{ SupportedFeatures []string }
	if json.Unmarshal(config[0], &cfg) != nil || !slices.Contains(cfg.SupportedFeatures, "MJOIN") || !slices.Contains(cfg.SupportedFeatures, "ALL_EVENTS") {
		t.Fatalf("config %s", config)
	}
	if all := ui.expect(t, "all_sockets", ""); string(all[0]) != "[]" {
		t.Fatalf("all_sockets %s, want []", all)
	}

	user := dialWireHeader(t, addr, "/", "", http.Header{"X-Forwarded-For": {"203.0.113.7"}})
	sid := user.connected(t)
	connected := ui.expect(t, "socket_connected", "")
	var view socketView
	if err := json.Unmarshal(connected[0], &view); err != nil || view.ID != sid || view.Nsp != "/" || view.Transport != "websocket" ||
		!slices.Contains(view.Rooms, sid) || view.Handshake.Address != "203.0.113.7" {
		t.Fatalf("socket_connected %s (%v), want socket %s from 203.0.113.7", connected, err, sid)
	}

	behindCloudflare := dialWireHeader(t, addr, "/", "", http.Header{"X-Forwarded-For": {"10.0.0.1"}, "Cf-Connecting-Ip": {"198.51.100.9"}})
	behindCloudflare.connected(t)
	connected = ui.expect(t, "socket_connected", "")
	if err := json.Unmarshal(connected[0], &view); err != nil || view.Handshake.Address != "198.51.100.9" {
		t.Fatalf("socket_connected %s (%v), want the address of cf-connecting-ip", connected, err)
	}

	io.Of("/").In(sid).SocketsJoin("lobby")
	joined := ui.expect(t, "room_joined", `"/"`)
	if string(joined[1]) != `"lobby"` || string(joined[2]) != quote(sid) {
		t.Fatalf("room_joined %s", joined)
	}
	ui.emit(t, "join", `"/"`, `"vip"`, quote(sid))
	if joined := ui.expect(t, "room_joined", `"/"`); string(joined[1]) != `"vip"` {
		t.Fatalf("room_joined %s, want vip", joined)
	}
	if rooms := io.Of("/").Socket(sid).Rooms(); !slices.Contains(rooms, "vip") {
		t.Fatalf("rooms %v after the UI's join", rooms)
	}

	user.emit(t, "hello", "1")
	received := ui.expect(t, "event_received", `"/"`)
	if string(received[1]) != quote(sid) || string(received[2]) != `["hello",1]` {
		t.Fatalf("event_received %s", received)
	}

	ui.emit(t, "leave", `"/"`, `"lobby"`, quote(sid))
	if left := ui.expect(t, "room_left", `"/"`); string(left[1]) != `"lobby"` {
		t.Fatalf("room_left %s, want lobby", left)
	}

	ui.emit(t, "emit", `"/"`, quote(sid), `"note"`, `{"x":1}`)
	if note := user.expect(t, "note", ""); string(note[0]) != `{"x":1}` {
		t.Fatalf("the UI's emit reached the socket as %s", note)
	}

	ui.emit(t, "_disconnect", `"/"`, "false", quote(sid))
	if gone := ui.expect(t, "socket_disconnected", `"/"`); string(gone[1]) != quote(sid) {
		t.Fatalf("socket_disconnected %s", gone)
	}
}

// Bad input: actions with wrong arguments or naming a namespace that is
// not instrumented are ignored (logged); the UI stays connected and later
// actions work; no namespace gets created.
func TestUIBadActions(t *testing.T) {
	logs := &testutil.LogBuffer{}
	io, _, addr := startInstrumented(t, Options{Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Warn})})
	ui := dialWire(t, addr, "/admin", "")
	ui.connected(t)
	user := dialWire(t, addr, "/", "")
	sid := user.connected(t)
	ui.expect(t, "socket_connected", "")
	ui.emit(t, "join", `"/nope"`, `"r"`)
	ui.emit(t, "join", `42`, `"r"`)
	ui.emit(t, "emit", `"/"`)
	ui.emit(t, "_disconnect", `"/"`, `"yes"`)
	ui.emit(t, "join", `"/"`, `"ok"`, quote(sid))
	if joined := ui.expect(t, "room_joined", `"/"`); string(joined[1]) != `"ok"` {
		t.Fatalf("room_joined %s, want ok", joined)
	}
	if !io.Of("/").Socket(sid).Connected() {
		t.Fatal("a bad _disconnect disconnected the socket")
	}
	testutil.CheckFor(t, 2*time.Second, 10*time.Millisecond, func() error {
		for _, want := range []string{"namespace not instrumented: ignored: namespace=/nope", "bad arguments: ignored: action=join", "action=emit", "action=_disconnect"} {
			if !strings.Contains(logs.String(), want) {
				return fmt.Errorf("log %q lacks %q", logs.String(), want)
			}
		}
		return nil
	})
}

// The UI's login on the wire: a wrong password gets the connect error the
// UI recognises ("invalid credentials"); the right one is admitted and
// gets a session id first, with which the UI reconnects without password.
func TestUILogin(t *testing.T) {
	auth := &BasicAuth{Username: "admin", PasswordHash: hashOf(t, "secret")}
	_, _, addr := startInstrumented(t, Options{Auth: auth})
	wrong := dialWire(t, addr, "/admin", `{"username":"admin","password":"guess"}`)
	if p := wrong.packet(t); p != `4{"message":"invalid credentials"}` {
		t.Fatalf("wrong password: %q, want the connect error", p)
	}
	noAuth := dialWire(t, addr, "/admin", "")
	if p := noAuth.packet(t); p[0] != '4' {
		t.Fatalf("no credentials: %q, want a connect error", p)
	}

	ui := dialWire(t, addr, "/admin", `{"username":"admin","password":"secret"}`)
	ui.connected(t)
	session := ui.expect(t, "session", "")
	var id string
	if json.Unmarshal(session[0], &id) != nil || id == "" {
		t.Fatalf("session %s", session)
	}
	ui.expect(t, "config", "")

	again := dialWire(t, addr, "/admin", `{"sessionId":`+quote(id)+`}`)
	again.connected(t)
	again.expect(t, "config", "")
	forged := dialWire(t, addr, "/admin", `{"sessionId":`+quote(id+"0")+`}`)
	if p := forged.packet(t); p[0] != '4' {
		t.Fatalf("forged session id: %q, want a connect error", p)
	}
}

// pollingClient is a Socket.IO client on the polling transport, able to
// upgrade to websocket as browsers do.
type pollingClient struct {
	base string // http://addr/socket.io/?EIO=4&transport=polling&sid=...
	sid  string // the engine's session id
}

func dialPolling(t *testing.T, addr string) *pollingClient {
	t.Helper()
	body := httpDo(t, "GET", "http://"+addr+"/socket.io/?EIO=4&transport=polling", "")
	var open struct{ Sid string }
	if !strings.HasPrefix(body, "0") || json.Unmarshal([]byte(body[1:]), &open) != nil {
		t.Fatalf("polling handshake %q", body)
	}
	return &pollingClient{base: "http://" + addr + "/socket.io/?EIO=4&transport=polling&sid=" + open.Sid, sid: open.Sid}
}

func httpDo(t *testing.T, method, url, body string) string {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %q %v", method, url, resp.StatusCode, b, err)
	}
	return string(b)
}

// send posts one packet; poll reads what the server has queued.
func (c *pollingClient) send(t *testing.T, packet string) { httpDo(t, "POST", c.base, packet) }
func (c *pollingClient) poll(t *testing.T) string         { return httpDo(t, "GET", c.base, "") }

// connect joins namespace "/" and returns the socket id.
func (c *pollingClient) connect(t *testing.T) string {
	t.Helper()
	c.send(t, "40")
	for _, p := range strings.Split(c.poll(t), "\x1e") {
		var ack struct{ Sid string }
		if strings.HasPrefix(p, "40") && json.Unmarshal([]byte(p[2:]), &ack) == nil {
			return ack.Sid
		}
	}
	t.Fatal("no CONNECT answer on polling")
	return ""
}

// upgrade moves the connection to websocket (probe, then upgrade).
func (c *pollingClient) upgrade(t *testing.T, addr string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket&sid="+c.sid, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	if err := ws.WriteMessage(websocket.TextMessage, []byte("2probe")); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, msg, err := ws.ReadMessage(); err != nil || string(msg) != "3probe" {
		t.Fatalf("probe answered %q %v", msg, err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("5")); err != nil {
		t.Fatal(err)
	}
	return ws
}

// A polling socket's upgrade reaches the UI as socket_updated; a client
// joining and leaving a namespace over and over on one connection hooks
// the connection once (engineio keeps every upgrade handler for the
// connection's life), and nothing is hooked once it upgraded, nor ever for
// a websocket connection.
func TestUIUpgradeOnePerConnection(t *testing.T) {
	_, a, addr := startInstrumented(t, Options{})
	ui := dialWire(t, addr, "/admin", "")
	ui.connected(t)

	// socketio closes a connection that connects a namespace again before
	// it handled its DISCONNECT: wait for it in between.
	left := func(sid string) {
		t.Helper()
		testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error {
			if a.io.Of("/").Socket(sid) != nil {
				return fmt.Errorf("socket %s still connected", sid)
			}
			return nil
		})
	}
	ws := dialWire(t, addr, "/", "")
	sid := ws.connected(t)
	for range 20 {
		ws.send(t, "1", "")
		left(sid)
		ws.send(t, "0", "")
		sid = ws.connected(t)
	}
	if n := a.upgrades.hooked(); n != 0 {
		t.Fatalf("%d connections hooked for websocket clients", n)
	}

	c := dialPolling(t, addr)
	for range 20 {
		sid = c.connect(t)
		c.send(t, "41")
		left(sid)
	}
	sid = c.connect(t)
	conn := a.io.Of("/").Socket(sid).Conn()
	testutil.CheckFor(t, 5*time.Second, time.Millisecond, func() error { // the connection handler runs after the answer
		a.upgrades.mu.Lock()
		defer a.upgrades.mu.Unlock()
		if hooked, sockets := len(a.upgrades.sockets), len(a.upgrades.sockets[conn]); hooked != 1 || sockets != 1 {
			return fmt.Errorf("after 21 connects on one polling connection: %d connections hooked, %d sockets, want 1 and 1", hooked, sockets)
		}
		return nil
	})
	c.upgrade(t, addr)
	updated := ui.expect(t, "socket_updated", "")
	var u map[string]string
	if json.Unmarshal(updated[0], &u) != nil || u["id"] != sid || u["transport"] != "websocket" || u["nsp"] != "/" {
		t.Fatalf("socket_updated %s, want %s on websocket", updated, sid)
	}
	if n := a.upgrades.hooked(); n != 0 {
		t.Fatalf("%d connections hooked after the upgrade", n)
	}
	// Nothing more about the upgrade (a handler per socket would announce
	// the 20 sockets gone too): count until a marker sent after it.
	a.io.Of("/").In(sid).SocketsJoin("marker")
	extra := 0
	for {
		p := ui.packet(t)
		if strings.HasPrefix(p, `2["socket_updated"`) {
			extra++
		}
		if strings.HasPrefix(p, `2["room_joined","/","marker"`) {
			break
		}
	}
	if extra != 0 {
		t.Fatalf("%d more socket_updated after the upgrade, want none", extra)
	}
}
