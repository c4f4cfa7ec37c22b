package redisproto

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stickyd/stickyd/socketio"
)

// golden is one message captured from the real Node packages by
// testdata/redisnode/capture.js.
type golden struct {
	Name    string `json:"name"`
	Channel string `json:"channel"`
	Hex     string `json:"hex"`
	msg     []byte
}

func loadGolden(t testing.TB) []golden {
	t.Helper()
	out := loadGoldenFile(t, "testdata/node-golden.jsonl")
	if len(out) < 20 {
		t.Fatalf("golden file has %d messages", len(out))
	}
	return out
}

// loadGoldenFile reads the {name, channel, hex} lines of path.
func loadGoldenFile(t testing.TB, path string) []golden {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []golden
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var g golden
		if err := json.Unmarshal(sc.Bytes(), &g); err != nil {
			t.Fatal(err)
		}
		if g.msg, err = hex.DecodeString(g.Hex); err != nil {
			t.Fatal(err)
		}
		out = append(out, g)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func goldenNamed(t testing.TB, all []golden, name string) []golden {
	t.Helper()
	var out []golden
	for _, g := range all {
		if g.Name == name {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no golden message %q", name)
	}
	return out
}

func nspOf(channel string) string {
	if strings.Contains(channel, "/custom#") {
		return "/custom"
	}
	return "/"
}

// Every broadcast Node published decodes; the adapter's re-encode to the
// same bytes, on the same channel (Date arguments become strings, so that
// one is compared by content).
func TestGoldenBroadcasts(t *testing.T) {
	all := loadGolden(t)
	for _, g := range all {
		if !strings.HasPrefix(g.Name, "broadcast-") && !strings.HasPrefix(g.Name, "emitter-") || strings.HasPrefix(g.Channel, "socket.io-") {
			continue
		}
		t.Run(g.Name, func(t *testing.T) {
			nsp := nspOf(g.Channel)
			b, err := DecodeBroadcast(g.msg, nsp)
			if err != nil {
				t.Fatal(err)
			}
			ch := NewChannels("", nsp)
			if got := ch.BroadcastChannel(b.Opts.Rooms); got != g.Channel {
				t.Fatalf("channel %q, Node used %q", got, g.Channel)
			}
			if b.UID == EmitterUID || g.Name == "broadcast-date" {
				return
			}
			enc, err := EncodeBroadcast(b.UID, b.Packet, b.Opts)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, g.msg) {
				t.Fatalf("re-encoded\n%x\nNode\n%x", enc, g.msg)
			}
		})
	}
}

func TestGoldenBroadcastContents(t *testing.T) {
	all := loadGolden(t)
	cases := []struct {
		name, text string
		atts       [][]byte
		opts       socketio.BroadcastOptions
	}{
		{"broadcast-all", `2["hello","world",1]`, nil, socketio.BroadcastOptions{Rooms: []string{}, Except: []string{}}},
		{"broadcast-room-binary", `51-["bin",{"_placeholder":true,"num":0},{"a":1.5,"nested":[true,null,"é"]}]`, [][]byte{{1, 2, 3}},
			socketio.BroadcastOptions{Rooms: []string{"room1"}, Except: []string{}}},
		{"broadcast-flags", `2["f",-1,300,70000,5000000000,-200000,0.5,-33,128]`, nil,
			socketio.BroadcastOptions{Rooms: []string{"r1", "r2"}, Except: []string{"x"}, Flags: socketio.BroadcastFlags{Volatile: true, Compress: true}}},
		{"broadcast-date", `2["d","2023-11-14T22:13:20.123Z"]`, nil, socketio.BroadcastOptions{Rooms: []string{}, Except: []string{}}},
		{"broadcast-custom-nsp", `2/custom,["c","x"]`, nil, socketio.BroadcastOptions{Rooms: []string{}, Except: []string{}}},
		{"emitter-room", `51-["from-emitter",42,{"_placeholder":true,"num":0}]`, [][]byte{{9}}, socketio.BroadcastOptions{Rooms: []string{"room1"}, Except: []string{}}},
		{"emitter-flags", `2["e"]`, nil, socketio.BroadcastOptions{Rooms: []string{"a", "b"}, Except: []string{"c"}, Flags: socketio.BroadcastFlags{Volatile: true}}},
	}
	for _, c := range cases {
		g := goldenNamed(t, all, c.name)[0]
		b, err := DecodeBroadcast(g.msg, nspOf(g.Channel))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		e := b.Packet.Encoded()
		if e.Text != c.text || !equalAtts(e.Attachments, c.atts) {
			t.Errorf("%s: packet %q %v, want %q %v", c.name, e.Text, e.Attachments, c.text, c.atts)
		}
		if !slices.Equal(b.Opts.Rooms, c.opts.Rooms) || !slices.Equal(b.Opts.Except, c.opts.Except) || b.Opts.Flags != c.opts.Flags {
			t.Errorf("%s: opts %+v, want %+v", c.name, b.Opts, c.opts)
		}
	}
}

func equalAtts(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, func(x, y []byte) bool { return bytes.Equal(x, y) })
}

// Requests decode and re-encode to Node's bytes (key order included).
func TestGoldenRequests(t *testing.T) {
	all := loadGolden(t)
	want := map[string]RequestType{
		"sockets-join": TypeRemoteJoin, "sockets-leave": TypeRemoteLeave, "disconnect-sockets": TypeRemoteDisconnect,
		"fetch-sockets-request": TypeRemoteFetch, "all-rooms-request": TypeAllRooms, "server-side-emit": TypeServerSideEmit,
		"server-side-emit-ack-request": TypeServerSideEmit, "broadcast-ack-request": TypeBroadcast,
		"emitter-sockets-join": TypeRemoteJoin, "emitter-sockets-leave": TypeRemoteLeave, "emitter-disconnect": TypeRemoteDisconnect,
		"emitter-server-side-emit": TypeServerSideEmit,
	}
	for name, typ := range want {
		g := goldenNamed(t, all, name)[0]
		r, err := DecodeRequest(g.msg, "/")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Type != typ {
			t.Fatalf("%s: type %d, want %d", name, r.Type, typ)
		}
		enc, err := EncodeRequest(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(enc, g.msg) {
			t.Errorf("%s: re-encoded\n%s\nNode\n%s", name, enc, g.msg)
		}
	}
	r, _ := DecodeRequest(goldenNamed(t, all, "broadcast-ack-request")[0].msg, "/")
	if r.Packet.Encoded().Text != `2["question",1]` || r.Opts.Flags.Timeout != 300*time.Millisecond || r.RequestID == "" {
		t.Errorf("broadcast-ack-request: %+v", r)
	}
	r, _ = DecodeRequest(goldenNamed(t, all, "emitter-sockets-join")[0].msg, "/")
	if r.UID != "" || r.RequestID != "" || !slices.Equal(r.Rooms, []string{"y"}) || !slices.Equal(r.Opts.Rooms, []string{"room1"}) {
		t.Errorf("emitter-sockets-join: %+v", r)
	}
	r, _ = DecodeRequest(goldenNamed(t, all, "server-side-emit")[0].msg, "/")
	if r.RequestID != "" || len(r.Data) != 2 || string(r.Data[0]) != `"ping"` || string(r.Data[1]) != `1` {
		t.Errorf("server-side-emit: %+v", r)
	}
}

// Node's answers decode, and ours encode to Node's bytes.
func TestGoldenResponses(t *testing.T) {
	all := loadGolden(t)
	g := goldenNamed(t, all, "server-side-emit-response")[0]
	enc, _ := EncodeServerSideEmitResponse("rq0003", json.RawMessage(`"pong"`))
	expectBytes(t, "server-side-emit-response", enc, g.msg)
	r, err := DecodeResponse(g.msg)
	if err != nil || r.Type != TypeServerSideEmit || string(r.Data) != `"pong"` {
		t.Fatalf("sse response %+v %v", r, err)
	}

	acks := goldenNamed(t, all, "broadcast-ack-responses")
	expectBytes(t, "client count", EncodeClientCountResponse("rq0004", 1), acks[0].msg)
	enc, _ = EncodeBroadcastAckResponse("rq0004", json.RawMessage(`"client-ack"`))
	expectBytes(t, "broadcast ack", enc, acks[1].msg)
	r, err = DecodeResponse(acks[1].msg)
	if err != nil || r.Type != TypeBroadcastAck || string(r.Packet) != `"client-ack"` {
		t.Fatalf("ack response %+v %v", r, err)
	}
	r, err = DecodeResponse(acks[0].msg)
	if err != nil || r.Type != TypeBroadcastClientCount || r.ClientCount != 1 {
		t.Fatalf("count response %+v %v", r, err)
	}

	g = goldenNamed(t, all, "all-rooms-response")[0]
	r, err = DecodeResponse(g.msg)
	if err != nil || r.Type != -1 || !slices.Contains(r.Rooms, "room1") {
		t.Fatalf("rooms response %+v %v", r, err)
	}
	expectBytes(t, "all-rooms-response", EncodeAllRoomsResponse(r.RequestID, r.Rooms), g.msg)
}

// A Node fetch answer reads into SocketInfo, and ours has Node's shape.
func TestGoldenFetchResponse(t *testing.T) {
	g := goldenNamed(t, loadGolden(t), "fetch-sockets-response")[0]
	r, err := DecodeResponse(g.msg)
	if err != nil {
		t.Fatal(err)
	}
	sockets, err := r.FetchedSockets()
	if err != nil || len(sockets) != 1 {
		t.Fatalf("%v %v", sockets, err)
	}
	s := sockets[0]
	if !slices.Contains(s.Rooms, "room1") || string(s.Data) != `{"user":"ada","n":1}` || string(s.Handshake.Auth) != `{"token":"t0k"}` ||
		s.Handshake.Query.Get("room") != "r1" || s.Handshake.Headers.Get("Host") == "" || s.Handshake.Issued == 0 {
		t.Fatalf("socket %+v", s)
	}
	enc, err := EncodeFetchResponse("rq0001", sockets)
	if err != nil {
		t.Fatal(err)
	}
	var node, ours map[string]any
	_ = json.Unmarshal(g.msg, &node)
	if err := json.Unmarshal(enc, &ours); err != nil {
		t.Fatal(err)
	}
	nh := node["sockets"].([]any)[0].(map[string]any)["handshake"].(map[string]any)
	oh := ours["sockets"].([]any)[0].(map[string]any)["handshake"].(map[string]any)
	for k, v := range nh {
		if k == "headers" || k == "query" {
			for hk, hv := range v.(map[string]any) {
				if got := oh[k].(map[string]any)[hk]; got != hv {
					t.Errorf("handshake %s[%s] = %v, Node %v", k, hk, got, hv)
				}
			}
			continue
		}
		if got, _ := json.Marshal(oh[k]); string(got) != string(mustJSON(v)) {
			t.Errorf("handshake %s = %s, Node %s", k, got, mustJSON(v))
		}
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func expectBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n ours %x (%q)\n Node %x (%q)", what, got, got, want, want)
	}
}
