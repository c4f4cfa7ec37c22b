package adapter_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/stickyd/stickyd/adapter"
	"github.com/stickyd/stickyd/socketio"
	"github.com/stickyd/stickyd/worker"
)

// The rooms of the whole cluster with their members. Run alone (no
// stickyd, as here) the Cluster is standalone and lists this process's
// rooms; under stickyd the same code lists every worker's.
func ExampleRooms() {
	os.Setenv("HOST", "127.0.0.1") // standalone on a free loopback port
	os.Setenv("PORT", "0")
	defer os.Unsetenv("HOST")
	defer os.Unsetenv("PORT")
	l, err := worker.Listen()
	if err != nil {
		fmt.Println(err)
		return
	}
	cluster, err := adapter.New(l, adapter.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	io := socketio.NewServer(socketio.Options{Adapter: cluster.Adapter})
	joined := make(chan struct{})
	io.OnConnection(func(s *socketio.Socket) {
		s.Join("lobby")
		close(joined)
	})
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- worker.ServeListener(ctx, l, io) }()

	connectOverPolling("http://" + l.Addr().String() + "/socket.io/?EIO=4&transport=polling")
	<-joined
	rooms, _ := adapter.Rooms(context.Background(), io.Of("/"))
	for _, room := range rooms {
		members, _ := adapter.Sockets(context.Background(), io.Of("/"), room)
		if room == "lobby" {
			fmt.Println(room, len(members))
		}
	}
	fmt.Println("rooms with the socket's own:", len(rooms))
	_ = io.Close()
	stop()
	<-served
	// Output:
	// lobby 1
	// rooms with the socket's own: 2
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
