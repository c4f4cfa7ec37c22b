package worker

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stickyd/stickyd/engineio"
	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
)

// TestEngineOptions runs a real engineio server on a managed Listener: the
// handshake's sid names this instance, the session is counted in Load
// reports, and the app's own hooks still run.
func TestEngineOptions(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 40, nil)
	l := p.listen(t)
	opened := make(chan string, 1)
	closedc := make(chan string, 1)
	eng := engineio.NewServer(l.EngineOptions(engineio.Options{
		OnSessionOpen:  func(sid string) { opened <- sid },
		OnSessionClose: func(sid, reason string) { closedc <- reason },
	}))
	defer eng.Close()
	serveWorker(t, l, eng)

	cli, _ := p.dial(t, nil)
	br := bufio.NewReader(cli)
	fmt.Fprintf(cli, "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
	code, body := readResponse(t, br)
	if code != 200 || !strings.HasPrefix(body, "0") {
		t.Fatalf("handshake: %d %q", code, body)
	}
	var hs struct{ Sid string }
	if err := json.Unmarshal([]byte(body[1:]), &hs); err != nil {
		t.Fatal(err)
	}
	if inst, ok := ipc.SIDInstance(hs.Sid); !ok || inst != 40 {
		t.Fatalf("sid %q: instance %d, %v; want 40", hs.Sid, inst, ok)
	}
	if got := <-opened; got != hs.Sid {
		t.Fatalf("app hook got %q, want %q", got, hs.Sid)
	}
	p.waitLoad(t, func(m ipc.Message) error {
		if m.Sessions != 1 {
			return fmt.Errorf("load %+v, want 1 session", m)
		}
		return nil
	})
	fmt.Fprintf(cli, "POST /engine.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\n1", hs.Sid)
	if code, body := readResponse(t, br); code != 200 {
		t.Fatalf("close packet: %d %q", code, body)
	}
	if reason := <-closedc; reason == "" {
		t.Fatal("empty close reason")
	}
	p.waitLoad(t, func(m ipc.Message) error {
		if m.Sessions != 0 {
			return fmt.Errorf("load %+v, want 0 sessions", m)
		}
		return nil
	})
}
