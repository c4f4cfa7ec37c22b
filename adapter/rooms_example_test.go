package adapter_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/stickyd/stickyd/adapter"
	"github.com/stickyd/stickyd/socketio"
)

// The rooms of the whole cluster with their members. With the cluster's
// adapter (socketio.Options{Adapter: cluster.Adapter}) they are every
// worker's; with another adapter, as here (the in-memory one, in a test
// server), this process's.
func ExampleRooms() {
	io := socketio.NewServer(socketio.Options{})
	joined := make(chan struct{})
	io.OnConnection(func(s *socketio.Socket) {
		s.Join("lobby")
		close(joined)
	})
	srv := httptest.NewServer(io)
	defer srv.Close()
	defer io.Close()

	connectOverPolling(srv.URL + "/socket.io/?EIO=4&transport=polling")
	<-joined
	ctx := context.Background()
	rooms, _ := adapter.Rooms(ctx, io.Of("/"))
	members, _ := adapter.Sockets(ctx, io.Of("/"), "lobby")
	fmt.Println("rooms (the socket's own id room too):", len(rooms))
	fmt.Println("members of lobby:", len(members))
	// Output:
	// rooms (the socket's own id room too): 2
	// members of lobby: 1
}

// connectOverPolling opens an Engine.IO session at url and joins the main
// namespace, as a Socket.IO client does.
func connectOverPolling(url string) {
	resp, err := http.Get(url)
	if err != nil {
		fmt.Println(err)
		return
	}
	open, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sid := string(open[strings.Index(string(open), `"sid":"`)+7:])
	sid = sid[:strings.IndexByte(sid, '"')]
	resp, err = http.Post(url+"&sid="+sid, "text/plain", strings.NewReader("40"))
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
}
