package engineio_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/stickyd/stickyd/engineio"
)

// An echo server, spoken to over long-polling as a client would: the
// handshake, a message sent with POST, its echo read with GET.
func Example() {
	eng := engineio.NewServer(engineio.Options{})
	eng.OnConnection(func(s *engineio.Socket) {
		s.OnMessage(func(data []byte, binary bool) {
			_ = s.Write(engineio.NewTextFrame(append([]byte("echo: "), data...)))
		})
	})
	srv := httptest.NewServer(eng)
	defer srv.Close()
	defer eng.Close()

	open := get(srv.URL + "/engine.io/?EIO=4&transport=polling")
	fmt.Println("open packet:", open[:1], strings.Contains(open, `"sid"`))
	sid := open[strings.Index(open, `"sid":"`)+7:]
	sid = sid[:strings.IndexByte(sid, '"')]
	session := srv.URL + "/engine.io/?EIO=4&transport=polling&sid=" + sid
	resp, err := http.Post(session, "text/plain", strings.NewReader("4hello"))
	if err == nil {
		resp.Body.Close()
	}
	fmt.Println("message packet:", get(session))
	// Output:
	// open packet: 0 true
	// message packet: 4echo: hello
}

func get(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}
