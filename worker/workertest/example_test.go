package workertest_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"

	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/worker"
	"github.com/stickyd/stickyd/worker/workertest"
)

// A worker app under test: it gets a connection from the fake primary,
// answers it, and reports ready and its load as under stickyd.
func Example() {
	p, err := workertest.New(workertest.Options{Instance: 7})
	if err != nil {
		panic(err)
	}
	defer p.Close()

	// The app: worker.Listen with the fake primary's environment.
	l, err := worker.ListenOptions(worker.Options{Getenv: p.Getenv, Exit: func(int) {}})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from instance %d", l.Instance())
	}))
	if err := l.Ready(); err != nil {
		panic(err)
	}
	if _, err := p.Next(ipc.MsgReady); err != nil {
		panic(err)
	}

	// A client whose connection the primary hands to the worker.
	client, _, err := p.Dial()
	if err != nil {
		panic(err)
	}
	defer client.Close()
	fmt.Fprint(client, "GET / HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(client), nil)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))

	load, err := p.WaitLoad(func(m ipc.Message) error {
		if m.Received != 1 || m.Conns != 0 {
			return fmt.Errorf("received %d, open %d", m.Received, m.Conns)
		}
		return nil
	})
	fmt.Println("connections received:", load.Received, err)
	// Output:
	// 200 OK hello from instance 7
	// connections received: 1 <nil>
}
