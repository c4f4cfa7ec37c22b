// Command fakeapp is a tiny stickyd worker for tests: it serves HTTP through
// the worker package. GET /sid returns a new session id of this instance,
// any other path returns "instance=<id> pid=<pid>". It logs one line in
// hclog text format at start.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/stickyd/stickyd/worker"
)

func main() {
	l, err := worker.Listen()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakeapp:", err)
		os.Exit(1)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sid" {
			sid, _ := l.GenerateID(r)
			fmt.Fprint(w, sid)
			return
		}
		fmt.Fprintf(w, "instance=%d pid=%d", l.Instance(), os.Getpid())
	})
	fmt.Printf("2026-01-01T00:00:00.000Z [WARN]  fakeapp: started: instance=%d\n", l.Instance())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := worker.ServeListener(ctx, l, h); err != nil {
		fmt.Fprintln(os.Stderr, "fakeapp:", err)
		os.Exit(1)
	}
}
