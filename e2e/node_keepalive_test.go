package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// Kept-alive connections across Node workers: responses no longer close
// the connection (not even @socket.io/sticky 2.x's); a request on a
// kept-alive connection whose sid belongs to another worker is handed
// back to stickyd by the worker's preload with the bytes it consumed (a
// POST's body included) and reaches the sid's worker, and so does a
// websocket upgrade. Sticky 1.0.4 with random sids (the sid table, and
// the worker's engine.clients) and 2.0.1 with stickyd sids. stickyd's
// descriptors come back to their count once the connection is gone.
func TestNodeKeepAliveAcrossWorkers(t *testing.T) {
	for _, tc := range []struct {
		st   nodeStack
		sids string
	}{{stackOld, "random"}, {stackLatest, "stickyd"}} {
		t.Run("sticky"+tc.st.sticky+"-"+tc.sids, func(t *testing.T) {
			c := startNodeCluster(t, 2, tc.st, []string{"--node-sids", tc.sids, "--metrics", "127.0.0.1:0", "--balance", "round-robin"})
			base := metricsBase(t, c)
			testutil.Scrape(t, base+"/metrics") // (its connection may stay open)
			fds := fdCount(t, c.cmd.Process.Pid)
			var sids []string
			for i := 0; i < 6; i++ { // each on a connection of its own: balanced
				hs := dialKeepAlive(t, c.Addr)
				m := regexp.MustCompile(`"sid":"([^"]+)"`).FindStringSubmatch(hs.do(t, "GET", "/socket.io/?EIO=4&transport=polling", "", 200))
				if m == nil {
					t.Fatal("handshake without a sid")
				}
				sids = append(sids, m[1])
				hs.conn.Close()
			}
			ka := dialKeepAlive(t, c.Addr)
			owner := map[string]string{} // sid -> worker pid
			for _, sid := range sids {
				q := "/socket.io/?EIO=4&transport=polling&sid=" + sid
				if body := ka.do(t, "POST", q, "40", 200); body != "ok" {
					t.Fatalf("connect %s: %q", sid, body)
				}
				ka.do(t, "GET", q, "", 200) // the CONNECT answer
				ka.do(t, "POST", q, `421["whoami"]`, 200)
				m := regexp.MustCompile(`431\[(\d+)\]`).FindStringSubmatch(ka.do(t, "GET", q, "", 200))
				if m == nil {
					t.Fatalf("no whoami answer for %s", sid)
				}
				owner[sid] = m[1]
			}
			last := owner[sids[len(sids)-1]]
			other := ""
			for _, sid := range sids {
				if owner[sid] != last {
					other = sid
				}
			}
			if other == "" {
				t.Fatalf("every session on one worker: %v", owner)
			}
			ka.upgrade(t, "/socket.io/?EIO=4&transport=websocket&sid="+other)
			ka.conn.Close()
			fams := testutil.Scrape(t, base+"/metrics")
			if got := testutil.MetricSum(fams, "stickyd_routing_decisions_total", "decision", "handed_back"); got < 2 {
				t.Fatalf("%v connections handed back, want at least 2 (a poll and the upgrade)", got)
			}
			testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
				if n := fdCount(t, c.cmd.Process.Pid); n > fds {
					return fmt.Errorf("stickyd has %d fds, %d before", n, fds)
				}
				return nil
			})
		})
	}
}

// keepAliveConn is one client connection used for request after request.
type keepAliveConn struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialKeepAlive(t *testing.T, addr string) *keepAliveConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &keepAliveConn{conn, bufio.NewReader(conn)}
}

// do sends one request on the connection and returns the response's body;
// the response must have status want and keep the connection open.
func (k *keepAliveConn) do(t *testing.T, method, path, body string, want int) string {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+k.conn.RemoteAddr().String()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	k.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(k.conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(k.r, req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != want {
		t.Fatalf("%s %s: %d %q %v, want %d", method, path, resp.StatusCode, b, err, want)
	}
	if resp.Close {
		t.Fatalf("%s %s: the response closes the connection (%v)", method, path, resp.Header)
	}
	return string(b)
}

// upgrade asks for a websocket on the connection and wants 101.
func (k *keepAliveConn) upgrade(t *testing.T, path string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+k.conn.RemoteAddr().String()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	k.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(k.conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(k.r, req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade %s: %v %v", path, resp, err)
	}
}
