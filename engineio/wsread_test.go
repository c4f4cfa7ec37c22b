package engineio

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Client frame opcodes (RFC 6455 §5.2).
const (
	opcodeText  = 0x1
	opcodeClose = 0x8
	opcodePing  = 0x9
)

// clientFrame is a client's frame of op and payload (FIN, masked), as it
// goes on the wire, with the shortest length encoding.
func clientFrame(op byte, payload []byte) []byte {
	key := [4]byte{0x11, 0x22, 0x33, 0x44}
	b := []byte{0x80 | op}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i%4])
	}
	return b
}

// writeSplit writes b to c in many writes: its first 16 bytes (a frame
// header) one by one, the rest chunk bytes at a time.
func writeSplit(t *testing.T, c net.Conn, b []byte, chunk int) {
	t.Helper()
	for off := 0; off < len(b); {
		n := chunk
		if off < 16 {
			n = 1
		}
		n = min(n, len(b)-off)
		if _, err := c.Write(b[off : off+n]); err != nil {
			t.Fatal(err)
		}
		off += n
	}
}

// newReadServer is an echoing test server, without pings, whose idle
// websockets park after idleAfter (Linux); and a websocket client of it,
// its open packet read.
func newReadServer(t *testing.T, idleAfter time.Duration) (*testServer, *wsClient) {
	t.Helper()
	srv := newTestServer(t, Options{PingInterval: time.Hour, PingTimeout: time.Hour})
	srv.idleAfter = idleAfter
	ws := dialWS(t, srv.wsURL+"?EIO=4&transport=websocket")
	if m := ws.mustRead(); !strings.HasPrefix(m, "0{") {
		t.Fatalf("first message %q, want the open packet", m)
	}
	return srv, ws
}

// expectEcho checks that the server got message "4"+body from the client
// and echoed it.
func expectEcho(t *testing.T, srv *testServer, ws *wsClient, body string) {
	t.Helper()
	if _, got, _ := strings.Cut(srv.waitMsg(t), " "); got != body {
		t.Fatalf("server got %d bytes %.20q, want %d bytes %.20q", len(got), got, len(body), body)
	}
	if got := ws.mustRead(); got != "4"+body {
		t.Fatalf("echo of %d bytes %.20q, want %d bytes %.20q", len(got), got, len(body)+1, "4"+body)
	}
}

// body is a message body of n bytes that differs with seed.
func body(seed, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte((seed+i)%26)
	}
	return string(b)
}

// readSizes are message sizes around the frame length encodings and the
// read buffers (wsFrameBufSize, wsReadChunk, wsReadBufferSize).
var readSizes = []int{1, 124, 125, 126, 127, 128, 129, 511, 512, 513, 4095, 4096, 4097, 9000, 70_000}

// TestWebSocketMessageSplitAcrossWrites: messages of every size class
// arrive whole when the client writes them in many small TCP writes, the
// reader waiting for the rest of a frame mid-header and mid-payload; first
// with the websocket idle (parked, on Linux) before each.
func TestWebSocketMessageSplitAcrossWrites(t *testing.T) {
	srv, ws := newReadServer(t, 10*time.Millisecond)
	for i, n := range readSizes {
		if ParksIdleWebSockets && i%2 == 0 {
			waitParked(t, srv.Server, 1)
		}
		b := body(i, n-1)
		chunk := 1
		if n > 600 {
			chunk = 251
		}
		writeSplit(t, ws.c.NetConn(), clientFrame(opcodeText, []byte("4"+b)), chunk)
		expectEcho(t, srv, ws, b)
	}
}

// TestWebSocketGluedMessages: many messages of every size class, a ping
// with the largest payload (125 bytes) among them, all in one TCP write,
// are each read and echoed: none is left waiting in a read buffer while
// the websocket parks. Then, in another write, messages and a close frame
// with a 123-byte reason: the messages are read, and the close frame ends
// the session.
func TestWebSocketGluedMessages(t *testing.T) {
	srv, ws := newReadServer(t, 10*time.Millisecond)
	pongs := make(chan string, 1)
	ws.c.SetPongHandler(func(data string) error { pongs <- data; return nil })
	ping := body(7, 125)
	glue := func(round int, glued []byte, bodies []string) ([]byte, []string) {
		for i := range 60 {
			n := 1 + (i*37)%300
			if i < len(readSizes) {
				n = readSizes[i]
			}
			b := body(round*100+i, n-1)
			bodies = append(bodies, b)
			glued = append(glued, clientFrame(opcodeText, []byte("4"+b))...)
		}
		return glued, bodies
	}
	glued, bodies := glue(0, nil, nil)
	glued = append(glued, clientFrame(opcodePing, []byte(ping))...)
	glued, bodies = glue(1, glued, bodies)
	if ParksIdleWebSockets {
		waitParked(t, srv.Server, 1)
	}
	if _, err := ws.c.NetConn().Write(glued); err != nil {
		t.Fatal(err)
	}
	for _, b := range bodies {
		expectEcho(t, srv, ws, b)
	}
	select {
	case got := <-pongs:
		if got != ping {
			t.Errorf("pong %q, want the ping's 125 bytes", got)
		}
	default:
		t.Error("no pong for the 125-byte ping")
	}

	glued, bodies = glue(2, nil, nil)
	closeMsg := websocket.FormatCloseMessage(4001, strings.Repeat("r", 123))
	glued = append(glued, clientFrame(opcodeClose, closeMsg)...)
	if ParksIdleWebSockets {
		waitParked(t, srv.Server, 1)
	}
	if _, err := ws.c.NetConn().Write(glued); err != nil {
		t.Fatal(err)
	}
	for _, b := range bodies {
		if _, got, _ := strings.Cut(srv.waitMsg(t), " "); got != b {
			t.Fatalf("server got %d bytes %.20q, want %d bytes %.20q", len(got), got, len(b), b)
		}
	}
	for { // echoes, as many as were written before the session closed
		if _, err := ws.read(); err != nil {
			if !websocket.IsCloseError(err, 4001) {
				t.Errorf("read %v, want the close 4001 echoed", err)
			}
			break
		}
	}
	if ev := srv.waitClose(t); ev.reason != ReasonTransportClose {
		t.Errorf("close reason %q, want %q", ev.reason, ReasonTransportClose)
	}
}

// TestWebSocketControlFramesAtLimits: a ping with a 125-byte payload gets
// its pong and a close frame with a 123-byte reason is echoed, each
// written byte by byte, to a busy reader and to a parked websocket.
func TestWebSocketControlFramesAtLimits(t *testing.T) {
	for _, parked := range []bool{false, true} {
		t.Run(fmt.Sprintf("parked=%v", parked), func(t *testing.T) {
			if parked && !ParksIdleWebSockets {
				t.Skip("idle websockets keep their reader on this OS")
			}
			idleAfter := time.Hour // the reader waits, unparked
			if parked {
				idleAfter = 10 * time.Millisecond
			}
			srv, ws := newReadServer(t, idleAfter)
			pongs := make(chan string, 1)
			ws.c.SetPongHandler(func(data string) error { pongs <- data; return nil })
			for i := range 3 {
				if parked {
					waitParked(t, srv.Server, 1)
				}
				ping := body(i, 125)
				writeSplit(t, ws.c.NetConn(), clientFrame(opcodePing, []byte(ping)), 1)
				writeSplit(t, ws.c.NetConn(), clientFrame(opcodeText, []byte("4sync")), 1)
				expectEcho(t, srv, ws, "sync") // the pong is handled while reading
				select {
				case got := <-pongs:
					if got != ping {
						t.Fatalf("pong %q, want %q", got, ping)
					}
				default:
					t.Fatal("no pong for the 125-byte ping")
				}
			}
			if parked {
				waitParked(t, srv.Server, 1)
			}
			closeMsg := websocket.FormatCloseMessage(4001, strings.Repeat("r", 123))
			writeSplit(t, ws.c.NetConn(), clientFrame(opcodeClose, closeMsg), 1)
			if _, err := ws.read(); !websocket.IsCloseError(err, 4001) {
				t.Errorf("read %v, want the close 4001 echoed", err)
			}
			if ev := srv.waitClose(t); ev.reason != ReasonTransportClose {
				t.Errorf("close reason %q, want %q", ev.reason, ReasonTransportClose)
			}
		})
	}
}

// TestWebSocketMessageStalledPastIdleDeadline: a message whose rest
// arrives long after the idle read deadline the reader left set (a stall
// mid-header, then mid-payload, in a small and a large message) arrives
// whole and the session lives on: only a wait between messages ends at
// the idle deadline.
func TestWebSocketMessageStalledPastIdleDeadline(t *testing.T) {
	const idleAfter = 20 * time.Millisecond
	srv, ws := newReadServer(t, idleAfter)
	for i, n := range []int{10, 9000} {
		for _, cut := range []int{1, 6 + n/2} { // in the header; in the payload
			b := body(i+cut, n-1)
			frame := clientFrame(opcodeText, []byte("4"+b))
			writeSplit(t, ws.c.NetConn(), clientFrame(opcodeText, []byte("4warm")), 6)
			expectEcho(t, srv, ws, "warm") // the reader waited: the idle deadline is set
			writeSplit(t, ws.c.NetConn(), frame[:cut], cut)
			// The stall is what is tested: past the idle deadline (set at
			// most idleAfter before the first bytes came).
			time.Sleep(3 * idleAfter)
			writeSplit(t, ws.c.NetConn(), frame[cut:], len(frame)-cut)
			expectEcho(t, srv, ws, b)
		}
	}
}
