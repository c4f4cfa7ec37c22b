package redisproto

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stickyd/stickyd/socketio"
)

// loadShardedGolden reads the messages testdata/redisnode/capture-sharded.js
// captured from Node's sharded adapter.
func loadShardedGolden(t testing.TB) []golden {
	t.Helper()
	out := loadGoldenFile(t, "testdata/node-sharded-golden.jsonl")
	if len(out) < 14 {
		t.Fatalf("%d sharded golden messages, want 14", len(out))
	}
	return out
}

// TestClusterGoldenRoundTrip decodes every captured message and encodes it
// back to Node's exact bytes (the fetch answer, whose handshake Go writes
// in its own key order, is checked field by field instead).
func TestClusterGoldenRoundTrip(t *testing.T) {
	for _, g := range loadShardedGolden(t) {
		m, err := DecodeCluster(g.msg)
		if err != nil {
			t.Fatalf("%s: %v", g.Name, err)
		}
		if m.Type == ClusterFetchSocketsResponse {
			if len(m.Sockets) != 1 || m.Sockets[0].Handshake.Auth == nil || string(m.Sockets[0].Data) != `{"user":"ada","n":1}` {
				t.Fatalf("%s: sockets %+v", g.Name, m.Sockets)
			}
			continue
		}
		out, err := EncodeCluster(m)
		if err != nil {
			t.Fatalf("%s: encode: %v", g.Name, err)
		}
		if !bytes.Equal(out, g.msg) {
			t.Errorf("%s:\n got %q\nwant %q", g.Name, out, g.msg)
		}
	}
}

// TestClusterGoldenFields checks what the decoder reads from Node's messages.
func TestClusterGoldenFields(t *testing.T) {
	byName := map[string]*ClusterMessage{}
	for _, g := range loadShardedGolden(t) {
		m, err := DecodeCluster(g.msg)
		if err != nil {
			t.Fatal(err)
		}
		byName[g.Name+"/"+m.Type.String()] = m
	}
	if m := byName["broadcast-all-binary/3"]; m == nil || len(m.Packet.Attachments()) != 1 || !bytes.Equal(m.Packet.Attachments()[0], []byte{1, 2, 3}) {
		t.Fatalf("binary broadcast: %+v", m)
	}
	if m := byName["broadcast-flags/3"]; m == nil || !m.Opts.Flags.Volatile || len(m.Opts.Except) != 1 || m.Opts.Except[0] != "x" {
		t.Fatalf("flags broadcast: %+v", m)
	}
	if m := byName["broadcast-ack-request/3"]; m == nil || m.RequestID == "" || m.Opts.Flags.Timeout.Milliseconds() != 300 {
		t.Fatalf("ack broadcast: %+v", m)
	}
	if m := byName["server-side-emit-response/10"]; m == nil || string(m.Ack) != `"pong"` {
		t.Fatalf("server-side emit response: %+v", m)
	}
	if m := byName["broadcast-ack-responses/11"]; m == nil || m.ClientCount != 1 {
		t.Fatalf("client count: %+v", m)
	}
}

// TestClusterBadInput: each defect gets its sentinel, nothing panics.
func TestClusterBadInput(t *testing.T) {
	cases := []struct {
		msg  string
		want error
	}{
		{``, ErrMalformed},
		{`[1]`, ErrMalformed},
		{`{"data":{}}`, ErrMalformed},                                           // no type
		{`{"type":2,"data":{}}`, ErrUnknownType},                                // heartbeat: not in sharded mode
		{`{"type":13,"data":{}}`, ErrUnknownType},                               // adapter close
		{`{"type":3,"data":[]}`, ErrMalformed},                                  // data not a map
		{`{"type":3,"data":{"opts":{"rooms":[]}}}`, ErrMalformed},               // broadcast without packet
		{`{"type":4,"data":{"rooms":["a"]}}`, ErrMalformed},                     // join without opts
		{`{"type":7,"data":{"opts":{}}}`, ErrMalformed},                         // fetch without requestId
		{`{"type":8,"data":{"requestId":"r","sockets":{}}}`, ErrMalformed},      // sockets not an array
		{`{"type":9,"data":{"packet":[1]}}`, ErrMalformed},                      // event name not a string
		{`{"type":11,"data":{"requestId":"r","clientCount":-1}}`, ErrMalformed}, // bad count
		{`{"type":3,"data":{"opts":{},"packet":{"type":3,"data":["x"]}}}`, ErrNotEvent},
	}
	for _, c := range cases {
		if _, err := DecodeCluster([]byte(c.msg)); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.msg, err, c.want)
		}
	}
	if _, err := EncodeCluster(&ClusterMessage{Type: 1}); !errors.Is(err, ErrUnknownType) {
		t.Errorf("encode type 1: %v", err)
	}
}

// FuzzDecodeCluster: the decoder never panics and what it accepts
// encodes and decodes again.
func FuzzDecodeCluster(f *testing.F) {
	for _, g := range loadShardedGolden(f) {
		f.Add(g.msg)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := DecodeCluster(msg)
		if err != nil {
			return
		}
		out, err := EncodeCluster(m)
		if err != nil {
			return // e.g. a packet Go cannot re-encode
		}
		if _, err := DecodeCluster(out); err != nil {
			t.Fatalf("re-decode of %q: %v", out, err)
		}
	})
}

// TestShardedChannelsGolden: every captured message went to the channel
// BroadcastChannel (requests) or Private (responses) names.
func TestShardedChannelsGolden(t *testing.T) {
	c := NewShardedChannels("", "/")
	for _, g := range loadShardedGolden(t) {
		m, err := DecodeCluster(g.msg)
		if err != nil {
			t.Fatal(err)
		}
		want := c.BroadcastChannel(m, SubscriptionDynamic)
		if m.Type.IsResponse() {
			want = c.Private("GOLDEN")
		}
		if g.Channel != want {
			t.Errorf("%s: channel %q, want %q", g.Name, g.Channel, want)
		}
	}
	one := &ClusterMessage{Type: ClusterBroadcast, Opts: socketioOpts("AAAAAAAAAAAAAAAAAAAA")}
	if got := c.BroadcastChannel(one, SubscriptionDynamic); got != c.Main {
		t.Errorf("dynamic socket-id room: %q", got)
	}
	if got := c.BroadcastChannel(one, SubscriptionDynamicPrivate); got != c.Room("AAAAAAAAAAAAAAAAAAAA") {
		t.Errorf("dynamic-private socket-id room: %q", got)
	}
	if got := c.BroadcastChannel(&ClusterMessage{Type: ClusterBroadcast, Opts: socketioOpts("r")}, SubscriptionStatic); got != c.Main {
		t.Errorf("static: %q", got)
	}
}

func socketioOpts(room string) socketio.BroadcastOptions {
	return socketio.BroadcastOptions{Rooms: []string{room}}
}
