package socketio

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

func TestConnectTimeout(t *testing.T) {
	env := newEnv(t, Options{ConnectTimeout: 100 * time.Millisecond})
	c := env.dial("")
	c.expectClosed()
	// A client that connects in time stays.
	c2 := env.dial("")
	c2.connect("/", "")
	if err := env.io.Emit("still-here"); err != nil {
		t.Fatal(err)
	}
	c2.expect(`2["still-here"]`)
}

// TestMalformedPackets: every malformed packet closes the client; the
// socket's disconnect reason is "parse error".
func TestMalformedPackets(t *testing.T) {
	tests := []struct {
		name   string
		frames []string // "b:" = binary
	}{
		{"unknown type", []string{"9"}},
		{"bad json", []string{`2["a"`}},
		{"event not array", []string{`2{"a":1}`}},
		{"reserved event", []string{`2["disconnect"]`}},
		{"empty event", []string{`2[]`}},
		{"too many attachments", []string{`511-["a"]`}},
		{"bad attachment header", []string{`5x-["a"]`}},
		{"text while reconstructing", []string{`51-["a",{"_placeholder":true,"num":0}]`, `2["a"]`}},
		{"binary out of the blue", []string{"b:zz"}},
		{"placeholder out of range", []string{`51-["a",{"_placeholder":true,"num":3}]`, "b:zz"}},
		{"disconnect with payload", []string{`1{}`}},
		{"ack id too large", []string{`39007199254740993[]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, Options{})
			c, rs := env.connectWatched()
			for _, f := range tt.frames {
				if b, ok := strings.CutPrefix(f, "b:"); ok {
					c.sendBinary([]byte(b))
				} else {
					c.send(f)
				}
			}
			c.expectClosed()
			rs.wait(t, "parse error")
		})
	}
}

// TestTooManyAttachmentsOption: the bound is an option.
func TestTooManyAttachmentsOption(t *testing.T) {
	env := newEnv(t, Options{MaxAttachments: 2})
	got := make(chan int, 1)
	env.io.OnConnection(func(s *Socket) { _ = s.On("f", func(a, b []byte) { got <- len(a) + len(b) }) })
	c := env.dial("")
	c.connect("/", "")
	c.send(`52-["f",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	c.sendBinary([]byte("x"))
	c.sendBinary([]byte("yy"))
	if n := <-got; n != 3 {
		t.Fatalf("got %d bytes", n)
	}
	c.send(`53-["f"]`)
	c.expectClosed()
}

func TestInvalidState(t *testing.T) {
	tests := []struct{ name, pkt string }{
		{"event for unconnected namespace", `2/admin,["x"]`},
		{"double connect", `0`},
		{"connect_error from client", `4{"message":"x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, Options{})
			c, rs := env.connectWatched()
			c.send(tt.pkt)
			c.expectClosed()
			rs.wait(t, "forced server close")
		})
	}
}

func TestDisconnectReasons(t *testing.T) {
	t.Run("client namespace disconnect", func(t *testing.T) {
		env := newEnv(t, Options{})
		var rs, discing reasons
		env.io.Of("/a").OnConnection(func(s *Socket) {
			s.OnDisconnect(rs.add)
			s.OnDisconnecting(func(r string) { discing.add(fmt.Sprint(r, len(s.Rooms()))) })
			s.Join("room")
		})
		c := env.dial("")
		c.connect("/", "")
		c.connect("/a", "")
		c.send(`1/a,`)
		rs.wait(t, "client namespace disconnect")
		discing.wait(t, "client namespace disconnect2")
		if n := len(env.io.Of("/a").Adapter().Rooms()); n != 0 {
			t.Fatalf("%d rooms left", n)
		}
		_ = env.io.Emit("alive")
		c.expect(`2["alive"]`)
	})
	t.Run("server namespace disconnect", func(t *testing.T) {
		env := newEnv(t, Options{})
		var rs reasons
		env.io.OnConnection(func(s *Socket) { s.OnDisconnect(rs.add); _ = s.On("bye", func() { s.Disconnect(false) }) })
		c := env.dial("")
		c.connect("/", "")
		c.send(`2["bye"]`)
		c.expect(`1`)
		rs.wait(t, "server namespace disconnect")
	})
	t.Run("transport close", func(t *testing.T) {
		env := newEnv(t, Options{})
		c, rs := env.connectWatched()
		c.ws.Close()
		rs.wait(t, "transport close")
	})
	t.Run("server shutting down", func(t *testing.T) {
		env := newEnv(t, Options{})
		c, rs := env.connectWatched()
		if err := env.io.Close(); err != nil {
			t.Fatal(err)
		}
		rs.wait(t, "server shutting down")
		c.expectClosed()
	})
	t.Run("forced server close", func(t *testing.T) {
		env := newEnv(t, Options{})
		var rs reasons
		env.io.OnConnection(func(s *Socket) { s.OnDisconnect(rs.add); _ = s.On("bye", func() { s.Disconnect(true) }) })
		env.io.Of("/b").OnConnection(func(s *Socket) { s.OnDisconnect(rs.add) })
		c := env.dial("")
		c.connect("/", "")
		c.connect("/b", "")
		c.send(`2["bye"]`)
		c.expectClosed()
		testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
			rs.mu.Lock()
			defer rs.mu.Unlock()
			if len(rs.got) != 2 || rs.got[0] != "server namespace disconnect" || rs.got[1] != "server namespace disconnect" {
				return fmt.Errorf("reasons %q", rs.got)
			}
			return nil
		})
	})
}

func TestRecovery(t *testing.T) {
	env := newEnv(t, Options{ConnectionStateRecovery: &RecoveryOptions{MaxDisconnectionDuration: time.Minute}})
	var mwCalls atomic.Int32
	env.io.Use(func(s *Socket) error { mwCalls.Add(1); return nil })
	socks := make(chan *Socket, 2)
	env.io.OnConnection(func(s *Socket) {
		if !s.Recovered() {
			s.Join("news")
			s.SetData("kept")
		}
		socks <- s
	})
	c := env.dial("")
	c.send("0")
	got := c.expectPrefix(`0{"sid":`)
	var ok struct{ Sid, Pid string }
	if err := json.Unmarshal([]byte(got[1:]), &ok); err != nil || ok.Pid == "" {
		t.Fatalf("connect %q: %v", got, err)
	}
	s1 := <-socks
	_ = env.io.To("news").Emit("e", 1)
	p := c.expectPrefix(`2["e",1,"`)
	var args []any
	_ = json.Unmarshal([]byte(p[1:]), &args)
	offset := args[2].(string)
	// Volatile and ack-less-room packets are not stored; socket emits aren't either.
	c.ws.Close()
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if s1.Connected() {
			return fmt.Errorf("still connected")
		}
		if len(env.io.Sockets()) != 0 {
			return fmt.Errorf("socket not removed")
		}
		return nil
	})
	_ = env.io.To("news").Emit("e", 2)
	_ = env.io.Volatile().Emit("e", "volatile")
	_ = env.io.To("other").Emit("e", "other room")
	_ = env.io.Emit("e", 3)

	c2 := env.dial("")
	c2.send(fmt.Sprintf(`0{"pid":%q,"offset":%q}`, ok.Pid, offset))
	c2.expect(fmt.Sprintf(`0{"sid":%q,"pid":%q}`, ok.Sid, ok.Pid))
	c2.expectPrefix(`2["e",2,"`)
	c2.expectPrefix(`2["e",3,"`)
	s2 := <-socks
	if !s2.Recovered() || s2.ID() != ok.Sid || s2.Data() != "kept" {
		t.Fatalf("recovered=%v id=%s data=%v", s2.Recovered(), s2.ID(), s2.Data())
	}
	if mwCalls.Load() != 2 {
		t.Fatalf("middlewares ran %d times, want 2", mwCalls.Load())
	}
	_ = env.io.To("news").Emit("e", 4)
	c2.expectPrefix(`2["e",4,"`)

	// The session is consumed: a second attempt gets a fresh id.
	c3 := env.dial("")
	c3.send(fmt.Sprintf(`0{"pid":%q,"offset":%q}`, ok.Pid, offset))
	got3 := c3.expectPrefix(`0{"sid":`)
	if strings.Contains(got3, ok.Sid) {
		t.Fatalf("session restored twice: %s", got3)
	}
	if s3 := <-socks; s3.Recovered() {
		t.Fatalf("third socket recovered")
	}
}

func TestRecoverySkipMiddlewares(t *testing.T) {
	env := newEnv(t, Options{ConnectionStateRecovery: &RecoveryOptions{SkipMiddlewares: true}})
	var mwCalls atomic.Int32
	env.io.Use(func(s *Socket) error { mwCalls.Add(1); return nil })
	c := env.dial("")
	c.send("0")
	var ok struct{ Sid, Pid string }
	_ = json.Unmarshal([]byte(c.expectPrefix(`0{`)[1:]), &ok)
	_ = env.io.Emit("e")
	var args []string
	_ = json.Unmarshal([]byte(c.expectPrefix(`2["e"`)[1:]), &args)
	c.ws.Close()
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if len(env.io.Sockets()) != 0 {
			return fmt.Errorf("socket not removed")
		}
		return nil
	})
	c2 := env.dial("")
	c2.send(fmt.Sprintf(`0{"pid":%q,"offset":%q}`, ok.Pid, args[1]))
	c2.expect(fmt.Sprintf(`0{"sid":%q,"pid":%q}`, ok.Sid, ok.Pid))
	if mwCalls.Load() != 1 {
		t.Fatalf("middlewares ran %d times, want 1", mwCalls.Load())
	}
}

// TestPolling drives the protocol over HTTP long-polling.
func TestPolling(t *testing.T) {
	env := newEnv(t, Options{})
	socks := make(chan *Socket, 1)
	env.io.OnConnection(func(s *Socket) {
		_ = s.On("echo", func(v json.RawMessage, ack AckFunc) { _ = ack(v) })
		socks <- s
	})
	base := env.url + "/socket.io/?EIO=4&transport=polling"
	get := func(u string) string {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
		}
		return string(b)
	}
	post := func(u, body string) {
		t.Helper()
		resp, err := http.Post(u, "text/plain;charset=UTF-8", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("POST: %d %s", resp.StatusCode, b)
		}
	}
	open := get(base)
	var o struct{ Sid string }
	if err := json.Unmarshal([]byte(open[1:]), &o); err != nil {
		t.Fatalf("open %q: %v", open, err)
	}
	u := base + "&sid=" + o.Sid
	post(u, "40")
	if got := get(u); !strings.HasPrefix(got, `40{"sid":"`) {
		t.Fatalf("connect over polling: %q", got)
	}
	// No GET is pending: a volatile packet is dropped, a plain one queued.
	if err := env.io.Volatile().Emit("v"); err != nil {
		t.Fatal(err)
	}
	s := <-socks
	if err := s.EmitVolatile("v2"); err != nil {
		t.Fatal(err)
	}
	if err := env.io.Emit("n"); err != nil {
		t.Fatal(err)
	}
	if got, want := get(u), `42["n"]`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Binary over polling: the attachment travels base64-encoded ("b" record).
	if err := env.io.Emit("bin", []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if got, want := get(u), "451-[\"bin\",{\"_placeholder\":true,\"num\":0}]\x1ebAQI="; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// An event queued before DISCONNECT is still handled (and acked).
	post(u, "421[\"echo\",{\"b\":1,\"a\":\"<x>\"}]\x1e41")
	if got, want := get(u), `431[{"b":1,"a":"<x>"}]`; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if len(env.io.Sockets()) != 0 {
			return fmt.Errorf("socket still connected after DISCONNECT")
		}
		return nil
	})
}
