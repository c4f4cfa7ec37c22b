package primary

import (
	"errors"
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
