// Package idlecost measures what an idle Engine.IO / Socket.IO session
// costs the process that serves it: goroutines, live heap and goroutine
// stack per session. Tests and benchmarks of engineio and socketio open
// many sessions against an in-process server with the raw clients here
// and compare the runtime's counts before and after (Measure).
//
// The clients are minimal on purpose: a websocket session is one
// *net.TCPConn kept open after the handshake (the bufio.Reader used to read
// the handshake is dropped), so that the figures are the server's, plus a
// client net.Conn of a few hundred bytes per session (which Measure does not
// subtract; see Cost).
//
// # Concurrency
//
// Measure is for one caller at a time (it reads process-wide counters);
// the dial functions are safe for concurrent use.
package idlecost

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// ErrBadAnswer reports a server answer the clients do not expect.
var ErrBadAnswer = errors.New("idlecost: unexpected server answer")

// Cost is what n idle sessions added to the process, per session. It
// includes the client's side of each connection held in the same process
// (a *net.TCPConn: about 250 heap bytes), never its kernel socket buffers.
type Cost struct {
	Sessions   int
	Goroutines float64 // goroutines per session
	HeapBytes  float64 // live heap per session, after a GC
	StackBytes float64 // goroutine stack in use per session, after a GC
}

// Total is heap plus stack per session: the memory Go holds for a session
// (before the garbage collector's headroom, GOGC).
func (c Cost) Total() float64 { return c.HeapBytes + c.StackBytes }

// String formats c for a test log.
func (c Cost) String() string {
	return fmt.Sprintf("%d sessions: %.2f goroutines, %.0f B heap, %.0f B stack, %.0f B total per session",
		c.Sessions, c.Goroutines, c.HeapBytes, c.StackBytes, c.Total())
}

// Limit is the most a kind of idle session may cost: goroutines and
// bytes (Total) per session.
type Limit struct {
	Goroutines float64
	Bytes      float64
}

// Check logs c and fails tb (Errorf) where c exceeds lim.
func (c Cost) Check(tb testing.TB, kind string, lim Limit) {
	tb.Helper()
	tb.Log(c)
	if c.Goroutines > lim.Goroutines {
		tb.Errorf("%.2f goroutines per idle %s session, want <= %.2f", c.Goroutines, kind, lim.Goroutines)
	}
	if c.Total() > lim.Bytes {
		tb.Errorf("%.0f bytes per idle %s session, want <= %.0f", c.Total(), kind, lim.Bytes)
	}
}

// Report reports c as b's metrics, per session.
func (c Cost) Report(b *testing.B) {
	b.ReportMetric(c.Goroutines, "goroutines/session")
	b.ReportMetric(c.HeapBytes, "heap-B/session")
	b.ReportMetric(c.StackBytes, "stack-B/session")
	b.ReportMetric(c.Total(), "B/session")
}

// Kind is a kind of idle session: its name and how a client opens one on
// the server at addr (host:port) and path.
type Kind struct {
	Name string
	Open func(addr, path string) (io.Closer, error)
}

// Measurer measures n idle sessions opened with open on a server of its
// own.
type Measurer func(tb testing.TB, n int, open func(addr, path string) (io.Closer, error)) Cost

// TestKinds runs a subtest per kind that measures n sessions and checks
// them against limits[kind.Name].
func TestKinds(t *testing.T, kinds []Kind, n int, measure Measurer, limits map[string]Limit) {
	t.Helper()
	for _, kind := range kinds {
		t.Run(kind.Name, func(t *testing.T) {
			measure(t, n, kind.Open).Check(t, kind.Name, limits[kind.Name])
		})
	}
}

// BenchmarkKinds runs a sub-benchmark per kind that measures n sessions
// per op and reports the cost per session.
func BenchmarkKinds(b *testing.B, kinds []Kind, n int, measure Measurer) {
	for _, kind := range kinds {
		b.Run(kind.Name, func(b *testing.B) {
			var cost Cost
			for range b.N {
				cost = measure(b, n, kind.Open)
			}
			cost.Report(b)
		})
	}
}

type sample struct {
	goroutines int
	heap       uint64
	stack      uint64
}

// settle collects garbage (twice: the first GC may leave stacks to shrink
// and finalizers to run) and samples the counters.
func settle() sample {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return sample{goroutines: runtime.NumGoroutine(), heap: m.HeapAlloc, stack: m.StackInuse}
}

// quiesce waits (at most timeout) until the goroutine count has stayed the
// same for quiet: the goroutines of the handshakes just served have ended,
// and so have the readers of websockets that park when idle.
func quiesce(quiet, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	last, since := -1, time.Now()
	for time.Now().Before(deadline) {
		if n := runtime.NumGoroutine(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= quiet {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Measure opens n sessions with open, one after another, and returns their
// cost per session, once the goroutine count has not changed for quiet
// (longer than the server takes to park an idle websocket). The closers it
// returns (the sessions' client sides) are the caller's to close; on error
// it closes what it opened.
func Measure(n int, quiet time.Duration, open func() (io.Closer, error)) (Cost, []io.Closer, error) {
	quiesce(quiet, 10*time.Second)
	before := settle()
	conns := make([]io.Closer, 0, n)
	for range n {
		c, err := open()
		if err != nil {
			CloseAll(conns)
			return Cost{}, nil, fmt.Errorf("session %d: %w", len(conns), err)
		}
		conns = append(conns, c)
	}
	quiesce(quiet, 20*time.Second)
	after := settle()
	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
	return Cost{
		Sessions:   n,
		Goroutines: float64(after.goroutines-before.goroutines) / float64(n),
		HeapBytes:  per(after.heap, before.heap),
		StackBytes: per(after.stack, before.stack),
	}, conns, nil
}

// MeasureServer serves h on a new loopback test server and measures n
// sessions opened with open at path (after one that warms the accept
// loop, pools and timers up), as Measure with quiet; count must report the
// sessions open, which it checks (n+1). It closes the sessions and the
// test server before it returns.
func MeasureServer(tb testing.TB, h http.Handler, path string, n int, quiet time.Duration,
	open func(addr, path string) (io.Closer, error), count func() int) Cost {
	tb.Helper()
	ts := httptest.NewServer(h)
	defer ts.Close()
	addr := ts.Listener.Addr().String()
	warm, err := open(addr, path)
	if err != nil {
		tb.Fatal(err)
	}
	defer warm.Close()
	cost, conns, err := Measure(n, quiet, func() (io.Closer, error) { return open(addr, path) })
	if err != nil {
		tb.Fatal(err)
	}
	defer CloseAll(conns)
	if got := count(); got != n+1 {
		tb.Errorf("%d sessions open, want %d", got, n+1)
	}
	return cost
}

// CloseAll closes every closer.
func CloseAll(cs []io.Closer) {
	for _, c := range cs {
		c.Close()
	}
}

// wsKey is the Sec-WebSocket-Key of every handshake (any 16 bytes do).
const wsKey = "dGhlIHNhbXBsZSBub25jZQ=="

// DialWebSocket opens an Engine.IO websocket session at addr (host:port)
// and path (say "/engine.io/" or "/socket.io/"), reads the open packet and,
// when nsp is not empty, connects to Socket.IO namespace nsp ("/") and
// reads the CONNECT answer. It returns the connection, which the session
// lives on until it is closed.
func DialWebSocket(addr, path, nsp string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + path + "?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + wsKey +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if err := openWebSocket(c, req, nsp); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func openWebSocket(c net.Conn, req, nsp string) error {
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	br := bufio.NewReaderSize(c, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("%w: status %d", ErrBadAnswer, resp.StatusCode)
	}
	if err := readTextFrame(br, "0{"); err != nil {
		return err
	}
	if nsp == "" {
		return nil
	}
	if _, err := c.Write(maskedTextFrame("40" + nspPrefix(nsp))); err != nil {
		return err
	}
	return readTextFrame(br, "40")
}

// nspPrefix is how a CONNECT names nsp: nothing for "/", else "nsp,".
func nspPrefix(nsp string) string {
	if nsp == "/" {
		return ""
	}
	return nsp + ","
}

// maskedTextFrame is a client text frame of payload with a zero mask.
func maskedTextFrame(payload string) []byte {
	b := []byte{0x81, 0x80 | byte(len(payload)), 0, 0, 0, 0}
	return append(b, payload...)
}

// readTextFrame reads one server frame and checks that it is text starting
// with prefix.
func readTextFrame(br *bufio.Reader, prefix string) error {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			return err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	if n > 1<<16 {
		return fmt.Errorf("%w: frame of %d bytes", ErrBadAnswer, n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return err
	}
	if h[0]&0x0f != 1 || !bytes.HasPrefix(p, []byte(prefix)) {
		return fmt.Errorf("%w: frame %q, want prefix %q", ErrBadAnswer, p, prefix)
	}
	return nil
}

// PollingSession is an idle polling session: its id, and the connection
// of its pending GET when it has one.
type PollingSession struct {
	SID string
	get net.Conn
}

// Close ends the pending GET's connection, if any.
func (p *PollingSession) Close() error {
	if p.get != nil {
		return p.get.Close()
	}
	return nil
}

// DialPolling opens an Engine.IO polling session at addr and path over
// connections that close after each request (Connection: close), connects
// to namespace nsp when not empty (POST "40", GET the answer), and, when
// pending is true, leaves a GET pending on a connection of its own: the
// state of a polling client between two server messages. With pending
// false the session is between two polls and holds no connection.
func DialPolling(addr, path, nsp string, pending bool) (*PollingSession, error) {
	base := path + "?EIO=4&transport=polling"
	body, err := pollRequest(addr, "GET", base, "")
	if err != nil {
		return nil, err
	}
	sid, ok := openSID(body)
	if !ok {
		return nil, fmt.Errorf("%w: handshake %q", ErrBadAnswer, body)
	}
	withSID := base + "&sid=" + sid
	if nsp != "" {
		if _, err := pollRequest(addr, "POST", withSID, "40"+nspPrefix(nsp)); err != nil {
			return nil, err
		}
		if body, err = pollRequest(addr, "GET", withSID, ""); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(body, "40") {
			return nil, fmt.Errorf("%w: CONNECT answer %q", ErrBadAnswer, body)
		}
	}
	ps := &PollingSession{SID: sid}
	if pending {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(c, "GET "+withSID+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
			c.Close()
			return nil, err
		}
		ps.get = c
	}
	return ps, nil
}

// openSID extracts the sid of an open packet `0{"sid":"..."...`.
func openSID(body string) (string, bool) {
	const key = `"sid":"`
	i := strings.Index(body, key)
	if !strings.HasPrefix(body, "0{") || i < 0 {
		return "", false
	}
	rest := body[i+len(key):]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return rest[:j], true
}

// pollRequest makes one request on a new connection and returns the body
// of a 200 answer.
func pollRequest(addr, method, target, body string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n\r\n%s",
		method, target, addr, len(body), body)
	if _, err := io.WriteString(c, req); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: %s %s: status %d %q", ErrBadAnswer, method, target, resp.StatusCode, b)
	}
	return string(b), nil
}
