package adapter_test

import (
	"context"
	"log"
	"net/http"

	"github.com/stickyd/stickyd/adapter"
	"github.com/stickyd/stickyd/socketio"
	"github.com/stickyd/stickyd/worker"
)

// A worker app under stickyd: join the cluster before reporting ready.
func ExampleNew() {
	l, err := worker.Listen()
	if err != nil {
		log.Fatal(err)
	}
	cluster, err := adapter.New(l, adapter.Options{})
	if err != nil {
		log.Fatal(err)
	}
	io := socketio.NewServer(socketio.Options{Adapter: cluster.Adapter})
	io.OnConnection(func(s *socketio.Socket) {
		s.On("count", func(room string, ack socketio.AckFunc) {
			ids, _ := adapter.Sockets(context.Background(), io.Of("/"), room)
			ack(len(ids))
		})
	})
	if err := l.Ready(); err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.Serve(l, l.Handler(io)))
}
