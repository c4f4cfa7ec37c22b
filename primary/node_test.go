package primary

import (
	"encoding/base64"
	"errors"
	"os"
	"testing"

	"github.com/stickyd/stickyd/nodeipc"
)

func TestResolveWorkerKind(t *testing.T) {
	for _, tc := range []struct {
		kind string
		argv []string
		want string
	}{
		{"", []string{"node", "app.js"}, WorkerKindNode},
		{"auto", []string{"/usr/local/bin/node20", "app.js"}, WorkerKindNode},
		{"auto", []string{"nodejs"}, WorkerKindNode},
		{"auto", []string{"./myapp"}, WorkerKindGo},
		{"auto", []string{"nodemon", "app.js"}, WorkerKindGo},
		{"go", []string{"node", "app.js"}, WorkerKindGo},
		{"node", []string{"sh", "-c", "exec node app.js"}, WorkerKindNode},
	} {
		if got, err := ResolveWorkerKind(tc.kind, tc.argv); err != nil || got != tc.want {
			t.Errorf("%q %q: %q, %v; want %q", tc.kind, tc.argv, got, err, tc.want)
		}
	}
	if _, err := ResolveWorkerKind("python", []string{"x"}); !errors.Is(err, ErrBadOptions) {
		t.Errorf("unknown kind: %v", err)
	}
}

// The request head a TLS relay consumed travels as sticky:connection's
// data: a Buffer in advanced mode, a string in json mode, the Buffer's
// JSON form for bytes that are not UTF-8.
func TestStickyConnectionData(t *testing.T) {
	if got := stickyConnection(nodeipc.JSON, nil, 0)["data"]; got != "" {
		t.Errorf("no prefix: %#v", got)
	}
	if got := stickyConnection(nodeipc.JSON, []byte("GET / HTTP/1.1\r\n"), 0)["data"]; got != "GET / HTTP/1.1\r\n" {
		t.Errorf("json: %#v", got)
	}
	if got, ok := stickyConnection(nodeipc.Advanced, []byte{0xff}, 0)["data"].([]byte); !ok || len(got) != 1 {
		t.Errorf("advanced: %#v", got)
	}
	if got := stickyConnection(nodeipc.JSON, nil, 9)["stickydConn"]; got != float64(9) {
		t.Errorf("connection id: %#v", got)
	}
	got, _ := stickyConnection(nodeipc.JSON, []byte{0xff}, 0)["data"].(map[string]any)
	if got["type"] != "Buffer" {
		t.Errorf("json, not UTF-8: %#v", got)
	}
}

func TestNewRejectsBadNodeOptions(t *testing.T) {
	for _, o := range []Options{
		{Argv: []string{"node"}, Workers: 1, NodeSerialization: "yaml"},
		{Argv: []string{"node"}, Workers: 1, NodeSIDs: "uuid"},
		{Argv: []string{"node"}, Workers: 1, WorkerKind: "deno"},
		{Argv: []string{"node"}, Workers: 1, NodeAckTimeout: -1},
	} {
		if _, err := New(o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// A Node hand-back is parsed only when it is the preload's message: a
// handle of a socket type, stickyd:handback, base64 request bytes; its
// connection id comes back; anything else is errNodeHandBack.
func TestParseNodeHandBack(t *testing.T) {
	msg := func(typ string, m map[string]any) map[string]any {
		return map[string]any{"cmd": "NODE_HANDLE", "type": typ, "msg": m}
	}
	good := map[string]any{"type": "stickyd:handback", "conn": float64(7), "data": base64.StdEncoding.EncodeToString([]byte("GET / HTTP/1.1\r\n\r\n"))}
	id, prefix, err := parseNodeHandBack(msg("net.Native", good))
	if err != nil || id != 7 || string(prefix) != "GET / HTTP/1.1\r\n\r\n" {
		t.Fatalf("good: %d %q %v", id, prefix, err)
	}
	for name, obj := range map[string]map[string]any{
		"server handle": msg("net.Server", good),
		"other message": msg("net.Socket", map[string]any{"type": "sticky:connection", "data": good["data"]}),
		"no data":       msg("net.Socket", map[string]any{"type": "stickyd:handback"}),
		"not base64":    msg("net.Socket", map[string]any{"type": "stickyd:handback", "data": "%%%"}),
		"no msg":        {"cmd": "NODE_HANDLE", "type": "net.Socket"},
	} {
		if _, _, err := parseNodeHandBack(obj); !errors.Is(err, errNodeHandBack) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := checkSocket(-1); !errors.Is(err, errNodeHandBack) {
		t.Errorf("no fd: %v", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := checkSocket(int(r.Fd())); !errors.Is(err, errNodeHandBack) {
		t.Errorf("a pipe: %v", err)
	}
}
