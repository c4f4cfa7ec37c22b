package testutil_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/socketio"
)

// SIOClient against a real socketio.Server: the CONNECT answer's sid, an
// ack matched to EmitAck, a binary event with its attachment, an ack the
// OnEvent hook gives the server, and the main namespace's packets dropped
// for a "/custom" client; after Close, EmitAck fails.
func TestSIOClient(t *testing.T) {
	base := testutil.TakeBaseline(t)
	io := socketio.NewServer(socketio.Options{})
	ids := make(chan string, 1)
	answers := make(chan []json.RawMessage, 1)
	io.Of("/custom").OnConnection(func(s *socketio.Socket) {
		_ = s.On("echo", func(a string, n int, ack socketio.AckFunc) { _ = ack(a, n) })
		ids <- s.ID()
		_ = s.Emit("bin", "b", []byte{1, 2})
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			a, _ := s.EmitWithAck(ctx, "question", 1)
			answers <- a
		}()
	})
	srv := httptest.NewServer(io)
	c, err := testutil.DialSIO(strings.TrimPrefix(srv.URL, "http://"), testutil.SIOOptions{
		Namespace: "/custom",
		OnEvent: func(c *testutil.SIOClient, p testutil.SIOPacket) {
			if p.Name == "question" && p.ID >= 0 {
				_ = c.Ack(p.ID, "yes")
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteText("40"); err != nil { // the main namespace: dropped
		t.Fatal(err)
	}
	if err := c.Connect(""); err != nil {
		t.Fatal(err)
	}
	var id string
	select {
	case id = <-ids:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
	}
	seen := map[string]testutil.SIOPacket{}
	for len(seen) < 3 {
		p, err := c.Next(5 * time.Second)
		if err != nil {
			t.Fatalf("%v after %v", err, seen)
		}
		seen[string(p.Type)+p.Name] = p
	}
	if p := seen["0"]; c.Sid() != id || !strings.Contains(p.Data, id) {
		t.Fatalf("sid %q, CONNECT %q, want %q", c.Sid(), p.Data, id)
	}
	if p := seen["5bin"]; len(p.Bins) != 1 || string(p.Bins[0]) != "\x01\x02" || len(p.Args) != 2 || string(p.Args[0]) != `"b"` {
		t.Fatalf("binary event %+v", p)
	}
	if p := seen["2question"]; p.ID < 0 || string(p.Args[0]) != "1" {
		t.Fatalf("question %+v", p)
	}
	if a := <-answers; len(a) != 1 || string(a[0]) != `"yes"` {
		t.Fatalf("server got ack %s", a)
	}
	a, err := c.EmitAck(5*time.Second, "echo", "x", 1)
	if err != nil || string(a) != `["x",1]` {
		t.Fatalf("echo ack %s, %v", a, err)
	}
	c.Close()
	if _, err := c.EmitAck(time.Second, "echo"); err == nil {
		t.Fatal("EmitAck after Close: no error")
	}
	srv.CloseClientConnections()
	srv.Close()
	_ = io.Close()
	base.Check(t)
}
