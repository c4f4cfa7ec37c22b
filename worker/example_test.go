package worker_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/stickyd/stickyd/worker"
)

// A worker app. Under stickyd, Listen receives the connections the primary
// routes here; run alone (as here, without STICKYD_SOCKET) it listens on
// $HOST:$PORT, so the same binary works both ways.
func ExampleListen() {
	os.Setenv("HOST", "127.0.0.1") // standalone on a free loopback port
	os.Setenv("PORT", "0")
	defer os.Unsetenv("HOST")
	defer os.Unsetenv("PORT")

	l, err := worker.Listen()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("managed by stickyd:", l.Managed())
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- worker.ServeListener(ctx, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "hello from a worker")
		}))
	}()

	resp, err := http.Get("http://" + l.Addr().String() + "/")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
	}
	stop()
	fmt.Println("stopped:", <-served)
	// Output:
	// managed by stickyd: false
	// hello from a worker
	// stopped: <nil>
}
