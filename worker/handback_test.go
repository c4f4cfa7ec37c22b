package worker

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
)

// TestHandBack sends a first request the worker serves, then, on the same
// kept-alive connection, a request for another instance's session. The fake
// primary must receive the connection with a prefix that reparses into the
// same request (body included: partly in the prefix, partly still in the
// socket), and answer it on the same connection.
func TestHandBack(t *testing.T) {
	other, _ := ipc.NewSID(77)
	body := bytes.Repeat([]byte("0123456789"), 1000) // 10000 bytes
	chunked := "1000\r\n" + strings.Repeat("a", 0x1000) + "\r\n5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"
	tests := []struct {
		name      string
		head      string // request head, sent with first
		first     string // sent at once with head
		rest      string // sent after the hand-back started
		wantBody  string
		wantTrail string
		pipelined string // a second request that follows at once
	}{
		{
			name:     "post content-length",
			head:     "POST /engine.io/?EIO=4&transport=polling&sid=" + other + " HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain;charset=UTF-8\r\nX-Multi: a\r\nX-Multi: b\r\nContent-Length: 10000\r\n\r\n",
			first:    string(body[:3000]),
			rest:     string(body[3000:]),
			wantBody: string(body),
		},
		{
			name:      "post chunked",
			head:      "POST /engine.io/?sid=" + other + "&EIO=4 HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nTrailer: X-Trailer\r\n\r\n",
			first:     chunked[:2000],
			rest:      chunked[2000:],
			wantBody:  strings.Repeat("a", 0x1000) + "hello",
			wantTrail: "t",
		},
		{
			name:      "get pipelined",
			head:      "GET /engine.io/?EIO=4&transport=polling&t=abc&sid=" + other + " HTTP/1.1\r\nHost: example.com\r\nCookie: io=x\r\n\r\n",
			pipelined: "GET /second HTTP/1.1\r\nHost: example.com\r\n\r\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.CheckNoLeaks(t, leakWait)
			p := newFakePrimary(t, 12, nil)
			l := p.listen(t)
			serveWorker(t, l, echoHandler)
			cli, id := p.dial(t, nil)
			br := bufio.NewReader(cli)

			io.WriteString(cli, "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: example.com\r\n\r\n")
			if code, got := readResponse(t, br); code != 200 || got != "worker GET  0" {
				t.Fatalf("first request: %d %q", code, got)
			}

			io.WriteString(cli, tt.head+tt.first+tt.pipelined)
			r := p.next(t, ipc.MsgHandBack)
			if r.Msg.ConnID != id || r.File == nil {
				t.Fatalf("hand back %+v fd %v, want conn %d", r.Msg, r.File, id)
			}
			io.WriteString(cli, tt.rest)
			if tt.first != "" && !bytes.Contains(r.Msg.Prefix, []byte(tt.first[:100])) {
				t.Fatalf("prefix %q lacks the buffered body", r.Msg.Prefix)
			}
			c, err := net.FileConn(r.File)
			r.File.Close()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))

			wantReq, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tt.head + tt.first + tt.rest)))
			if err != nil {
				t.Fatal(err)
			}
			wantBody, _ := io.ReadAll(wantReq.Body)
			pbr := bufio.NewReader(io.MultiReader(bytes.NewReader(r.Msg.Prefix), c))
			req, err := http.ReadRequest(pbr)
			if err != nil {
				t.Fatalf("prefix %q does not parse: %v", r.Msg.Prefix, err)
			}
			gotBody, err := io.ReadAll(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			if req.Method != wantReq.Method || req.RequestURI != wantReq.RequestURI || req.Host != wantReq.Host || req.Proto != wantReq.Proto {
				t.Fatalf("got %s %s %s host %s, want %s %s %s host %s", req.Method, req.RequestURI, req.Proto, req.Host,
					wantReq.Method, wantReq.RequestURI, wantReq.Proto, wantReq.Host)
			}
			if !reflect.DeepEqual(req.Header, wantReq.Header) {
				t.Fatalf("headers %v, want %v", req.Header, wantReq.Header)
			}
			if !reflect.DeepEqual(req.TransferEncoding, wantReq.TransferEncoding) || req.ContentLength != wantReq.ContentLength {
				t.Fatalf("framing %v/%d, want %v/%d", req.TransferEncoding, req.ContentLength, wantReq.TransferEncoding, wantReq.ContentLength)
			}
			if string(gotBody) != string(wantBody) || string(gotBody) != tt.wantBody {
				t.Fatalf("body of %d bytes, want %d", len(gotBody), len(tt.wantBody))
			}
			if got := req.Trailer.Get("X-Trailer"); got != tt.wantTrail {
				t.Fatalf("trailer %q, want %q", got, tt.wantTrail)
			}
			if tt.pipelined != "" {
				req2, err := http.ReadRequest(pbr)
				if err != nil || req2.RequestURI != "/second" {
					t.Fatalf("pipelined request: %v %v", req2, err)
				}
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nprimary")
			if code, got := readResponse(t, br); code != 200 || got != "primary" {
				t.Fatalf("after hand-back: %d %q, want the primary's answer", code, got)
			}
			p.waitLoad(t, func(m ipc.Message) error {
				if m.Conns != 0 {
					return fmt.Errorf("load %+v: handed-back conn still counted", m)
				}
				return nil
			})
		})
	}
}

// TestHandBackTooLarge checks a request whose prefix cannot fit in a
// HandBack message gets 400 and a closed connection.
func TestHandBackTooLarge(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 13, nil)
	l := p.listen(t)
	served := make(chan struct{}, 1)
	serveWorker(t, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served <- struct{}{} }))
	other, _ := ipc.NewSID(14)
	cli, _ := p.dial(t, nil)
	fmt.Fprintf(cli, "GET /?sid=%s HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", other, strings.Repeat("b", ipc.MaxHandBackPrefix))
	br := bufio.NewReader(cli)
	code, body := readResponse(t, br)
	if code != http.StatusBadRequest || body != tooLargeBody {
		t.Fatalf("got %d %q, want 400 %q", code, body, tooLargeBody)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed: %v", err)
	}
	select {
	case <-served:
		t.Fatal("handler ran")
	default:
	}
	p.waitLoad(t, func(m ipc.Message) error {
		if m.Conns != 0 {
			return fmt.Errorf("load %+v", m)
		}
		return nil
	})
}

func TestAppendRequestHead(t *testing.T) {
	raw := "PUT /a?b=c HTTP/1.1\r\nHost: h:1\r\nB: 2\r\nA: 1\r\nA: 0\r\nContent-Length: 3\r\n\r\n"
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	got := string(appendRequestHead(nil, req))
	want := "PUT /a?b=c HTTP/1.1\r\nHost: h:1\r\nA: 1\r\nA: 0\r\nB: 2\r\nContent-Length: 3\r\n\r\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestRetiredHandsBackNewSessions: once the primary retires a worker (a
// reload made a newer generation current), a request without a sid on a
// kept-alive connection goes back to the primary, to be balanced onto the
// new generation; requests for this worker's own sessions are still served.
func TestRetiredHandsBackNewSessions(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 12, nil)
	l := p.listen(t)
	serveWorker(t, l, echoHandler)
	cli, id := p.dial(t, nil)
	br := bufio.NewReader(cli)
	own, _ := ipc.NewSID(12)

	newSession := "GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: example.com\r\n\r\n"
	io.WriteString(cli, newSession)
	if code, got := readResponse(t, br); code != 200 || got != "worker GET  0" {
		t.Fatalf("before retire: %d %q, want the worker's answer", code, got)
	}
	p.send(t, &ipc.Message{Type: ipc.MsgRetire})
	// its own sessions are still served (checkFor: the retire message and
	// the request travel on different sockets)
	io.WriteString(cli, "GET /engine.io/?EIO=4&transport=polling&sid="+own+" HTTP/1.1\r\nHost: example.com\r\n\r\n")
	if code, got := readResponse(t, br); code != 200 || got != "worker GET "+own+" 0" {
		t.Fatalf("own sid after retire: %d %q, want the worker's answer", code, got)
	}
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if !l.retired.Load() {
			return fmt.Errorf("not retired yet")
		}
		return nil
	})
	io.WriteString(cli, newSession)
	r := p.next(t, ipc.MsgHandBack)
	if r.Msg.ConnID != id || r.File == nil || string(r.Msg.Prefix) != newSession {
		t.Fatalf("hand back %+v, want conn %d with the new-session request as prefix", r.Msg, id)
	}
	r.File.Close()
}
