package socketio_test

import (
	"log"
	"net/http"

	"github.com/stickyd/stickyd/socketio"
)

// Serve the official client next to the server, as Node's serveClient
// does: pages load /socket.io/socket.io.min.js. The bundle comes from
// `npm install socket.io-client`.
func ExampleNewClientHandler() {
	io := socketio.NewServer(socketio.Options{})
	client, err := socketio.NewClientHandler(socketio.ClientOptions{
		Dir: "node_modules/socket.io-client/dist",
	}, io)
	if err != nil {
		log.Fatal(err) // names the folder and the npm command
	}
	http.Handle(socketio.DefaultPath, client)
	log.Fatal(http.ListenAndServe("127.0.0.1:3000", nil))
}
