package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeTextValid(t *testing.T) {
	tests := []struct {
		in      string
		typ     PacketType
		nsp     string
		id      int64
		data    string
		attachs int
	}{
		{"0", PacketConnect, "/", -1, "", 0},
		{`0{"token":"x"}`, PacketConnect, "/", -1, `{"token":"x"}`, 0},
		{"0/admin,", PacketConnect, "/admin", -1, "", 0},
		{"0/admin", PacketConnect, "/admin", -1, "", 0},
		{`0/admin,{"a":1}`, PacketConnect, "/admin", -1, `{"a":1}`, 0},
		{"1", PacketDisconnect, "/", -1, "", 0},
		{"1/admin,", PacketDisconnect, "/admin", -1, "", 0},
		{`2["hello",1]`, PacketEvent, "/", -1, `["hello",1]`, 0},
		{`2[1]`, PacketEvent, "/", -1, `[1]`, 0},
		{`212["hello"]`, PacketEvent, "/", 12, `["hello"]`, 0},
		{`2/admin,12["hello"]`, PacketEvent, "/admin", 12, `["hello"]`, 0},
		{`30[]`, PacketAck, "/", 0, `[]`, 0},
		{`3/a,7["x"]`, PacketAck, "/a", 7, `["x"]`, 0},
		{`37`, PacketAck, "/", 7, ``, 0},
		{`4{"message":"no"}`, PacketConnectError, "/", -1, `{"message":"no"}`, 0},
		{`4"no"`, PacketConnectError, "/", -1, `"no"`, 0},
		{`51-["up",{"_placeholder":true,"num":0}]`, PacketBinaryEvent, "/", -1, `["up",{"_placeholder":true,"num":0}]`, 1},
		{`52-/x,3["up",{"_placeholder":true,"num":0}]`, PacketBinaryEvent, "/x", 3, `["up",{"_placeholder":true,"num":0}]`, 2},
		{`61-4[{"_placeholder":true,"num":0}]`, PacketBinaryAck, "/", 4, `[{"_placeholder":true,"num":0}]`, 1},
		{`9007199254740991["x"]`[0:0] + `29007199254740991["x"]`, PacketEvent, "/", 9007199254740991, `["x"]`, 0},
	}
	for _, tt := range tests {
		p, want, err := decodeText(tt.in, 10)
		if err != nil {
			t.Errorf("decodeText(%q): %v", tt.in, err)
			continue
		}
		if got := [4]any{p.typ, p.nsp, p.id, p.data}; got != [4]any{tt.typ, tt.nsp, tt.id, tt.data} {
			t.Errorf("decodeText(%q) = %v, want %v", tt.in, got, [4]any{tt.typ, tt.nsp, tt.id, tt.data})
		}
		if want != tt.attachs {
			t.Errorf("decodeText(%q) attachments = %d, want %d", tt.in, want, tt.attachs)
		}
	}
}

func TestDecodeTextInvalid(t *testing.T) {
	tests := []struct{ in, why string }{
		{"", "empty"},
		{"7", "unknown type"},
		{"a", "unknown type"},
		{"2", "event without payload"},
		{`2[]`, "event without name"},
		{`2{}`, "event payload not an array"},
		{`2[{}]`, "event name is an object"},
		{`2[null]`, "event name is null"},
		{`2["disconnect"]`, "reserved name"},
		{`2["connect",1]`, "reserved name"},
		{`2["newListener"]`, "reserved name"},
		{`2["a"`, "truncated json"},
		{`2["a"]x`, "trailing garbage"},
		{`1{}`, "disconnect with payload"},
		{`0[]`, "connect payload not an object"},
		{`0"x"`, "connect payload a string"},
		{`4[]`, "connect_error payload an array"},
		{`3["x"]`, "ack without id"},
		{`31{}`, "ack payload not an array"},
		{`5["x"]`, "binary without count"},
		{`5x-["x"]`, "binary count not a number"},
		{`51["x"]`, "binary without dash"},
		{`50-["x"]`, "binary with zero attachments"},
		{`511-["x",{"_placeholder":true,"num":0}]`, "too many attachments"},
		{`099999999999999999999`, "id out of range / id on connect"},
		{`29007199254740992["x"]`, "id beyond 2^53-1"},
		{`01{}`, "id on connect"},
		{"2[\"a\",\x00]", "control character"},
	}
	for _, tt := range tests {
		_, _, err := decodeText(tt.in, 10)
		if err == nil {
			t.Errorf("decodeText(%q) (%s): no error", tt.in, tt.why)
			continue
		}
		if !errors.Is(err, ErrParse) {
			t.Errorf("decodeText(%q): %v does not wrap ErrParse", tt.in, err)
		}
	}
	_, _, err := decodeText(`511-["x"]`, 10)
	if !errors.Is(err, ErrTooManyAttachments) {
		t.Errorf("11 attachments: got %v, want ErrTooManyAttachments", err)
	}
	if _, _, err := decodeText(`511-["x"]`, 11); err != nil {
		t.Errorf("11 attachments with limit 11: %v", err)
	}
}

func TestDecoderBinary(t *testing.T) {
	d := decoder{maxAttachments: 10}
	steps := []struct {
		data   string
		binary bool
		done   bool
		err    bool
	}{
		{`52-["up",{"_placeholder":true,"num":1},{"x":{"_placeholder":true,"num":0}}]`, false, false, false},
		{"AAA", true, false, false},
		{"BBB", true, true, false},
		{"CCC", true, false, true}, // binary when not reconstructing
	}
	var got *Packet
	for i, st := range steps {
		p, err := d.add([]byte(st.data), st.binary)
		if (err != nil) != st.err {
			t.Fatalf("step %d: err = %v, want error %v", i, err, st.err)
		}
		if (p != nil) != st.done {
			t.Fatalf("step %d: packet = %v, want done %v", i, p, st.done)
		}
		if p != nil {
			got = p
		}
	}
	if got.Type() != PacketBinaryEvent || len(got.Attachments()) != 2 || string(got.Attachments()[1]) != "BBB" {
		t.Fatalf("packet = %v %q", got.Type(), got.Attachments())
	}
	args, _ := got.Args()
	r, err := resolveArg(args[1], got.Attachments())
	if err != nil || string(r) != `"QkJC"` {
		t.Fatalf("resolveArg = %s, %v; want \"QkJC\"", r, err)
	}
	var v struct{ X []byte }
	r2, _ := resolveArg(args[2], got.Attachments())
	if err := json.Unmarshal(r2, &v); err != nil || string(v.X) != "AAA" {
		t.Fatalf("nested attachment = %q, %v", v.X, err)
	}
}

func TestDecoderBinaryErrors(t *testing.T) {
	tests := []struct {
		name  string
		steps []string // "b:" prefix = binary frame
	}{
		{"text while reconstructing", []string{`51-["a",{"_placeholder":true,"num":0}]`, `2["a"]`}},
		{"binary out of the blue", []string{"b:xx"}},
		{"placeholder index out of range", []string{`51-["a",{"_placeholder":true,"num":1}]`, "b:x"}},
		{"placeholder num not a number", []string{`51-["a",{"_placeholder":true,"num":"0"}]`, "b:x"}},
		{"placeholder negative", []string{`51-["a",{"_placeholder":true,"num":-1}]`, "b:x"}},
		{"placeholder without attachments", []string{`50-["a",{"_placeholder":true,"num":0}]`}},
		{"too many", []string{`511-["a"]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decoder{maxAttachments: 10}
			var err error
			for _, s := range tt.steps {
				if b, ok := strings.CutPrefix(s, "b:"); ok {
					_, err = d.add([]byte(b), true)
				} else {
					_, err = d.add([]byte(s), false)
				}
				if err != nil {
					break
				}
			}
			if !errors.Is(err, ErrParse) {
				t.Fatalf("got %v, want ErrParse", err)
			}
		})
	}
}

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		p    func() (*Packet, error)
		want EncodedPacket
	}{
		{"event", func() (*Packet, error) { return NewEventPacket("/", "hi", 1, "a") }, EncodedPacket{Text: `2["hi",1,"a"]`}},
		{"nsp", func() (*Packet, error) { return NewEventPacket("/admin", "hi") }, EncodedPacket{Text: `2/admin,["hi"]`}},
		{"no html escaping", func() (*Packet, error) { return NewEventPacket("/", "h", "<a&b>") }, EncodedPacket{Text: `2["h","<a&b>"]`}},
		{"line separators raw", func() (*Packet, error) { return NewEventPacket("/", "h", "a\u2028b\u2029") }, EncodedPacket{Text: "2[\"h\",\"a\u2028b\u2029\"]"}},
		{"escaped backslash kept", func() (*Packet, error) { return NewEventPacket("/", "h", `\u2028`) }, EncodedPacket{Text: `2["h","\\u2028"]`}},
		{"raw passthrough keeps key order", func() (*Packet, error) {
			return NewEventPacket("/", "h", json.RawMessage(`{"z":1,"a":2}`))
		}, EncodedPacket{Text: `2["h",{"z":1,"a":2}]`}},
		{"binary", func() (*Packet, error) { return NewEventPacket("/x", "f", []byte("ab"), 1) }, EncodedPacket{
			Text: `51-/x,["f",{"_placeholder":true,"num":0},1]`, Attachments: [][]byte{[]byte("ab")}}},
		{"ack with id", func() (*Packet, error) { return newDataPacket(PacketAck, "/", 5, []any{"ok"}) }, EncodedPacket{Text: `35["ok"]`}},
		{"binary ack", func() (*Packet, error) { return newDataPacket(PacketAck, "/a", 5, []any{[]byte{1}}) }, EncodedPacket{
			Text: `61-/a,5[{"_placeholder":true,"num":0}]`, Attachments: [][]byte{{1}}}},
		{"connect", func() (*Packet, error) {
			return newControlPacket(PacketConnect, "/", connectData("abc", "")), nil
		}, EncodedPacket{Text: `0{"sid":"abc"}`}},
		{"connect with pid", func() (*Packet, error) {
			return newControlPacket(PacketConnect, "/n", connectData("abc", "p")), nil
		}, EncodedPacket{Text: `0/n,{"sid":"abc","pid":"p"}`}},
		{"connect error", func() (*Packet, error) {
			return newControlPacket(PacketConnectError, "/", connectErrorData(&ConnectError{Message: "no", Data: map[string]int{"code": 3}})), nil
		}, EncodedPacket{Text: `4{"message":"no","data":{"code":3}}`}},
		{"disconnect", func() (*Packet, error) { return newControlPacket(PacketDisconnect, "/a", nil), nil }, EncodedPacket{Text: `1/a,`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.p()
			if err != nil {
				t.Fatal(err)
			}
			got := p.Encoded()
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			back, err := PacketFromEncoded(got)
			if err != nil {
				t.Fatalf("PacketFromEncoded: %v", err)
			}
			if again := back.Encoded(); !reflect.DeepEqual(again, tt.want) {
				t.Fatalf("round trip: got %q, want %q", again, tt.want)
			}
		})
	}
}

func TestPacketFromEncodedRejects(t *testing.T) {
	for _, e := range []EncodedPacket{
		{Text: `52-["x",{"_placeholder":true,"num":0}]`, Attachments: [][]byte{{1}}},
		{Text: `2["x"]`, Attachments: [][]byte{{1}}},
		{Text: `2[`},
	} {
		if _, err := PacketFromEncoded(e); !errors.Is(err, ErrParse) {
			t.Errorf("PacketFromEncoded(%q) = %v, want ErrParse", e.Text, err)
		}
	}
}

func TestPacketSplices(t *testing.T) {
	p, _ := NewEventPacket("/", "e", json.RawMessage(`{"b":1,"a":2}`))
	if got, want := p.WithID(9).Encoded().Text, `29["e",{"b":1,"a":2}]`; got != want {
		t.Errorf("WithID: got %s, want %s", got, want)
	}
	if got, want := p.withAppendedArg(json.RawMessage(`"off"`)).Encoded().Text, `2["e",{"b":1,"a":2},"off"]`; got != want {
		t.Errorf("withAppendedArg: got %s, want %s", got, want)
	}
	if got, want := p.WithID(9).WithoutID().Encoded().Text, `2["e",{"b":1,"a":2}]`; got != want {
		t.Errorf("WithoutID: got %s, want %s", got, want)
	}
}

func TestEmitRejectsUnencodable(t *testing.T) {
	_, err := NewEventPacket("/", "e", make(chan int))
	if !errors.Is(err, ErrBadArgument) {
		t.Fatalf("got %v, want ErrBadArgument", err)
	}
}

func FuzzDecodePacket(f *testing.F) {
	for _, s := range []string{`0`, `0/admin,{"token":"x"}`, `2["a",1]`, `2/a,12["a",{"b":[1,2]}]`, `31[]`,
		`51-["up",{"_placeholder":true,"num":0}]`, `4{"message":"x"}`, `1/x,`} {
		f.Add(s, []byte("bin"), uint8(1))
	}
	f.Fuzz(func(t *testing.T, text string, bin []byte, nbin uint8) {
		d := decoder{maxAttachments: 10}
		p, err := d.add([]byte(text), false)
		if err != nil {
			if !errors.Is(err, ErrParse) {
				t.Fatalf("error %v does not wrap ErrParse", err)
			}
			return
		}
		for i := 0; p == nil && i < int(nbin%12); i++ {
			p, err = d.add(bin, true)
			if err != nil {
				return
			}
		}
		if p == nil {
			return
		}
		// A decoded packet re-encodes to something that decodes to the same.
		e := p.Encoded()
		q, err := PacketFromEncoded(e)
		if err != nil {
			t.Fatalf("re-decode of %q: %v", e.Text, err)
		}
		if q.Encoded().Text != e.Text {
			t.Fatalf("round trip: %q != %q", q.Encoded().Text, e.Text)
		}
		if p.typ == PacketEvent || p.typ == PacketBinaryEvent {
			args, err := p.Args()
			if err != nil || len(args) == 0 {
				t.Fatalf("event without args: %v", err)
			}
			name, err := eventName(args[0])
			if err != nil {
				t.Fatalf("event name: %v", err)
			}
			var want string
			if json.Unmarshal(args[0], &want) == nil && name != want {
				t.Fatalf("event name %q, json.Unmarshal says %q", name, want)
			}
		}
	})
}

// TestEventName: names that need no decoding take the fast path, the
// others are decoded as JSON; reserved names are refused however spelled.
func TestEventName(t *testing.T) {
	tests := []struct {
		raw     string
		want    string
		wantErr bool
	}{
		{`"chat"`, "chat", false},
		{` "chat" `, "chat", false},
		{`""`, "", false},
		{`"a\"b"`, `a"b`, false},
		{`"\u0041"`, "A", false},
		{`"é"`, "é", false},
		{`"tab\there"`, "tab\there", false},
		{`42`, "42", false},
		{`"connect"`, "", true},
		{`"conn\u0065ct"`, "", true},
		{`{"a":1}`, "", true},
		{`null`, "", true},
	}
	for _, tt := range tests {
		got, err := eventName(json.RawMessage(tt.raw))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("eventName(%s) = %q, %v; want %q, error %v", tt.raw, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestWriteFuzzSeeds keeps the seed corpus files in testdata in sync (run
// with SOCKETIO_WRITE_SEEDS=1 to regenerate).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("SOCKETIO_WRITE_SEEDS") == "" {
		t.Skip("set SOCKETIO_WRITE_SEEDS=1 to regenerate")
	}
	seeds := []string{`0`, `0/admin,{"token":"x"}`, `2["a",1]`, `2/a,12["a",{"b":[1,2]}]`, `31[]`,
		`51-["up",{"_placeholder":true,"num":0}]`, `511-["up"]`, `2["disconnect"]`, `4{"message":"x"}`,
		`52-["x",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`, `29007199254740992["x"]`}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodePacket")
	for i, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\nstring(%q)\n[]byte(%q)\nbyte('\\x%02x')\n", s, "bin", 2)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
