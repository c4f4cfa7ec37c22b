// Command echoserver serves an Engine.IO echo server on $PORT (default 3000)
// at /engine.io/ with the options the engine.io-protocol test suite expects:
// pingInterval 300ms, pingTimeout 200ms, maxPayload 1e6, CORS origin *.
package main

import (
	"log"
	"net/http"
	"os"
	"time"

	"github.com/stickyd/stickyd/engineio"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	srv := engineio.NewServer(engineio.Options{
		PingInterval:      300 * time.Millisecond,
		PingTimeout:       200 * time.Millisecond,
		MaxHTTPBufferSize: 1e6,
		CORS:              &engineio.CORSOptions{Origin: "*"},
	})
	srv.OnConnection(func(s *engineio.Socket) {
		s.OnMessage(func(data []byte, binary bool) {
			if binary {
				_ = s.Write(engineio.NewBinaryFrame(data))
			} else {
				_ = s.Write(engineio.NewTextFrame(data))
			}
		})
	})
	log.Printf("listening on :%s", port)
	log.Fatal(http.ListenAndServe(":"+port, srv))
}
