package socketio

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stickyd/stickyd/internal/testutil"
)

func TestHandshake(t *testing.T) {
	env := newEnv(t, Options{})
	got := make(chan Handshake, 1)
	env.io.OnConnection(func(s *Socket) { got <- s.Handshake() })
	u := "ws" + strings.TrimPrefix(env.url, "http") + "/socket.io/?EIO=4&transport=websocket&room=blue"
	ws, _, err := websocket.DefaultDialer.Dial(u, http.Header{"Origin": {"http://example.com"}, "X-Custom": {"v"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_, _, _ = ws.ReadMessage()
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`40{"token":"t","nested":{"b":1,"a":2}}`))
	h := <-got
	if h.Query.Get("room") != "blue" || h.Headers.Get("X-Custom") != "v" || !h.XDomain || h.Secure ||
		h.Address != "127.0.0.1" || !strings.HasPrefix(h.URL, "/socket.io/?EIO=4") ||
		string(h.Auth) != `{"token":"t","nested":{"b":1,"a":2}}` || time.Since(time.UnixMilli(h.Issued)) > time.Minute ||
		!strings.Contains(h.Time, "GMT") {
		t.Fatalf("handshake %+v", h)
	}
}

func TestMiddlewareRoomsCleanedOnRefusal(t *testing.T) {
	env := newEnv(t, Options{})
	env.io.Use(func(s *Socket) error {
		s.Join("vip")
		return fmt.Errorf("refused")
	})
	c := env.dial("")
	c.send("0")
	c.expect(`4{"message":"refused"}`)
	if r := env.io.Of("/").Adapter().Rooms(); len(r) != 0 {
		t.Fatalf("rooms left behind: %v", r)
	}
}

func TestHandlerPanicAndDecodeErrorKeepSocket(t *testing.T) {
	env := newEnv(t, Options{})
	env.io.OnConnection(func(s *Socket) {
		_ = s.On("boom", func() { panic("boom") })
		_ = s.On("typed", func(n int, ack AckFunc) { _ = ack(n) })
	})
	c := env.dial("")
	c.connect("/", "")
	c.send(`2["boom"]`)
	c.send(`21["typed","not a number"]`) // skipped: no ack
	c.send(`22["typed",7]`)
	c.expect(`32[7]`)
}

func TestJoinLeaveRooms(t *testing.T) {
	env := newEnv(t, Options{})
	c, s := env.connectedSocket()
	s.Join("a", "b")
	s.Leave("a")
	rooms := s.Rooms()
	if len(rooms) != 2 || !(contains(rooms, "b") && contains(rooms, s.ID())) {
		t.Fatalf("rooms %v", rooms)
	}
	c.ws.Close()
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if r := env.io.Of("/").Adapter().Rooms(); len(r) != 0 {
			return fmt.Errorf("rooms left: %v", r)
		}
		return nil
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
