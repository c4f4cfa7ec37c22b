package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pollClient is a minimal Engine.IO v4 long-polling client over one
// net/http.Client, so tests control connection reuse and count dials.
type pollClient struct {
	base  string
	hc    *http.Client
	dials atomic.Int64
}

func newPollClient(base string, maxConns int) *pollClient {
	pc := &pollClient{base: base}
	d := &net.Dialer{Timeout: 5 * time.Second}
	pc.hc = &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxConnsPerHost:     maxConns,
			MaxIdleConnsPerHost: maxConns,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				pc.dials.Add(1)
				return d.DialContext(ctx, network, addr)
			},
		},
	}
	return pc
}

func (pc *pollClient) close() { pc.hc.CloseIdleConnections() }

// do sends one request and returns status and body.
func (pc *pollClient) do(method, query, body string) (int, string, error) {
	req, err := http.NewRequest(method, pc.base+"/socket.io/?EIO=4&transport=polling"+query, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if body != "" {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := pc.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.Close {
		return resp.StatusCode, string(b), fmt.Errorf("server closed the connection (Connection: close)")
	}
	return resp.StatusCode, string(b), err
}

// session is one Socket.IO session over long-polling.
type session struct {
	pc      *pollClient
	sid     string
	pending []string // packets received but not consumed
	nextAck int
}

// open performs the Engine.IO handshake and the Socket.IO CONNECT to "/",
// and consumes the CONNECT answer and the refapp's "auth" event.
func (pc *pollClient) open(t testing.TB) *session {
	t.Helper()
	code, body, err := pc.do("GET", "", "")
	if err != nil || code != 200 || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake: %d %q %v", code, body, err)
	}
	var hs struct{ SID string }
	if err := json.Unmarshal([]byte(body[1:]), &hs); err != nil {
		t.Fatalf("handshake body %q: %v", body, err)
	}
	s := &session{pc: pc, sid: hs.SID}
	s.post(t, "40")
	s.expect(t, "40{")
	s.expect(t, `42["auth",{}]`)
	return s
}

func (s *session) post(t testing.TB, packets ...string) {
	t.Helper()
	code, body, err := s.pc.do("POST", "&sid="+s.sid, strings.Join(packets, "\x1e"))
	if err != nil || code != 200 || body != "ok" {
		t.Fatalf("POST sid=%s: %d %q %v", s.sid, code, body, err)
	}
}

// next returns the next packet that is not a ping (pings are answered).
func (s *session) next(t testing.TB) string {
	t.Helper()
	for len(s.pending) == 0 {
		code, body, err := s.pc.do("GET", "&sid="+s.sid, "")
		if err != nil || code != 200 {
			t.Fatalf("GET sid=%s: %d %q %v", s.sid, code, body, err)
		}
		for _, p := range strings.Split(body, "\x1e") {
			switch {
			case p == "2":
				s.post(t, "3")
			case p == "6" || p == "":
			default:
				s.pending = append(s.pending, p)
			}
		}
	}
	p := s.pending[0]
	s.pending = s.pending[1:]
	return p
}

func (s *session) expect(t testing.TB, prefix string) string {
	t.Helper()
	p := s.next(t)
	if !strings.HasPrefix(p, prefix) {
		t.Fatalf("sid=%s: got packet %q, want prefix %q", s.sid, p, prefix)
	}
	return p
}

// whoami asks the refapp for the pid of the worker serving the session.
func (s *session) whoami(t testing.TB) int {
	t.Helper()
	id := s.nextAck
	s.nextAck++
	s.post(t, fmt.Sprintf(`42%d["whoami"]`, id))
	p := s.expect(t, fmt.Sprintf("43%d", id))
	var res []struct{ PID int }
	if err := json.Unmarshal([]byte(p[len(fmt.Sprintf("43%d", id)):]), &res); err != nil || len(res) != 1 {
		t.Fatalf("whoami ack %q: %v", p, err)
	}
	return res[0].PID
}
