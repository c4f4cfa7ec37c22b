package nodeipc

import (
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"golang.org/x/sys/unix"
)

// nodeFixture is what Node v20.20.2's advanced channel writes (frame body,
// after the length) for {5:"n", a:1, b:"x", c:Buffer[1,2], d:[1,"é",null,
// true], e:"日本", f:1.5, g:-3, h:2**40, i:Uint8Array[9], j:undefined}.
const nodeFixture = "ff0f6f490a22016e22016149022201622201782201635c000a020102220164410449022201e930542400042201656304e5652c672201664e000000000000f83f22016749052201684e00000000000070422201695c0001010922016a5f7b0b"

func TestNodeV8DecodesNodeOutput(t *testing.T) {
	b, _ := hex.DecodeString(nodeFixture)
	v, err := DecodeV8(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"5": "n", "a": 1.0, "b": "x", "c": []byte{1, 2}, "d": []any{1.0, "é", nil, true},
		"e": "日本", "f": 1.5, "g": -3.0, "h": float64(1 << 40), "i": []byte{9}, "j": nil}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("decoded %#v\nwant %#v", v, want)
	}
}

// Values outside the subset are ErrUnsupported; truncated bodies
// ErrMalformed; neither panics.
func TestNodeV8BadInput(t *testing.T) {
	for _, tc := range []struct {
		hex  string
		want error
	}{
		{"ff0f44000000000000f03f", ErrUnsupported}, // Date
		{"ff0f3b3a00", ErrUnsupported},             // Map
		{"ff0f5a10", ErrUnsupported},               // BigInt
		{"ff0f6f5e00", ErrUnsupported},             // object reference as a key
		{"ff0f6f2201", ErrMalformed},               // truncated
		{"ff0f22056162", ErrMalformed},             // string longer than body
		{"0011", ErrMalformed},                     // no header
		{"ff0c30", ErrUnsupported},                 // version 12
		{"ff0f3030", ErrMalformed},                 // trailing bytes
	} {
		b, _ := hex.DecodeString(tc.hex)
		if _, err := DecodeV8(b); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.hex, err, tc.want)
		}
	}
}

func FuzzNodeV8Decode(f *testing.F) {
	b, _ := hex.DecodeString(nodeFixture)
	f.Add(b)
	f.Add([]byte{0xff, 0x0f, 'A', 2, 'T', 'F', '$', 0, 2})
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := DecodeV8(body)
		if err != nil {
			return
		}
		enc, err := EncodeV8(v)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", v, err)
		}
		v2, err := DecodeV8(enc)
		if err != nil || !equalValues(v, v2) {
			t.Fatalf("round trip: %#v -> %#v (%v)", v, v2, err)
		}
	})
}

// equalValues is DeepEqual with NaN equal to itself.
func equalValues(a, b any) bool {
	if fa, ok := a.(float64); ok {
		fb, ok := b.(float64)
		return ok && (fa == fb || fa != fa && fb != fb)
	}
	switch a := a.(type) {
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equalValues(a[i], b[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k := range a {
			if !equalValues(a[k], b[k]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// startChild runs testdata/echo.js as a Node IPC child in mode and returns
// the parent's end of its channel.
func startChild(t *testing.T, mode Mode) *Conn {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not installed")
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	child := os.NewFile(uintptr(fds[1]), "child")
	parent := os.NewFile(uintptr(fds[0]), "parent")
	fc, err := net.FileConn(parent)
	parent.Close()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "testdata/echo.js")
	cmd.Env = append(os.Environ(), "NODE_CHANNEL_FD=3", "NODE_CHANNEL_SERIALIZATION_MODE="+mode.String())
	cmd.ExtraFiles = []*os.File{child}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child.Close()
	c := NewConn(fc.(*net.UnixConn), mode)
	t.Cleanup(func() {
		c.Close()
		cmd.Wait()
	})
	m, err := c.Read()
	if err != nil || !reflect.DeepEqual(m.Value, map[string]any{"started": true}) {
		t.Fatalf("first message %#v, %v", m.Value, err)
	}
	return c
}

// A real Node child reads what Send writes and its answers decode to the
// same values, in both modes; Buffers survive in advanced mode.
func TestNodeChannelRoundTrip(t *testing.T) {
	for _, mode := range []Mode{JSON, Advanced} {
		t.Run(mode.String(), func(t *testing.T) {
			c := startChild(t, mode)
			msgs := []any{
				map[string]any{"type": "x", "n": 1.0, "neg": -2.5, "s": "é日本", "a": []any{true, false, nil, "z"}},
				"plain", 42.0, []any{},
			}
			if mode == Advanced {
				msgs = append(msgs, map[string]any{"bin": []byte{0, 1, 255}})
			}
			for _, msg := range msgs {
				if err := c.Send(msg); err != nil {
					t.Fatal(err)
				}
				m, err := c.Read()
				if err != nil {
					t.Fatal(err)
				}
				if want := map[string]any{"echo": msg}; !reflect.DeepEqual(m.Value, want) {
					t.Fatalf("got %#v, want %#v", m.Value, want)
				}
			}
		})
	}
}

// SendHandle passes a socket the child can write on; the child acks it.
func TestNodeChannelHandle(t *testing.T) {
	testutil.CheckNoLeaks(t)
	for _, mode := range []Mode{JSON, Advanced} {
		t.Run(mode.String(), func(t *testing.T) {
			c := startChild(t, mode)
			ours, theirs := testutil.SocketPair(t)
			err := withFD(t, theirs, func(fd int) error {
				return c.SendHandle(map[string]any{"type": "sticky:connection", "data": "x"}, fd)
			})
			if err != nil {
				t.Fatal(err)
			}
			theirs.Close()
			var acked, echoed bool
			for !acked || !echoed {
				m, err := c.Read()
				if err != nil {
					t.Fatal(err)
				}
				v, _ := m.Value.(map[string]any)
				acked = acked || v["cmd"] == "NODE_HANDLE_ACK"
				echoed = echoed || v["echo"] != nil
			}
			ours.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(ours)
			if err != nil || string(got) != "hello x" {
				t.Fatalf("read %q, %v", got, err)
			}
			ours.Close()
		})
	}
}

// A handle the child sends back comes out of Read as the FD of its
// NODE_HANDLE message (the same socket), and the child's later messages,
// which Node holds until the parent's NODE_HANDLE_ACK, follow the ACK. No
// fd leaks.
func TestNodeChannelHandleBack(t *testing.T) {
	testutil.CheckNoLeaks(t)
	for _, mode := range []Mode{JSON, Advanced} {
		t.Run(mode.String(), func(t *testing.T) {
			c := startChild(t, mode)
			ours, theirs := testutil.SocketPair(t)
			defer ours.Close()
			err := withFD(t, theirs, func(fd int) error {
				return c.SendHandle(map[string]any{"type": "give-back", "data": "y"}, fd)
			})
			if err != nil {
				t.Fatal(err)
			}
			theirs.Close()
			back := -1
			for back < 0 {
				m, err := c.Read()
				if err != nil {
					t.Fatal(err)
				}
				v, _ := m.Value.(map[string]any)
				if v["echo"] != nil {
					t.Fatal("the echo came before the parent's ACK")
				}
				if v["cmd"] != "NODE_HANDLE" {
					if m.FD >= 0 {
						t.Fatalf("fd %d with %#v", m.FD, v)
					}
					continue
				}
				if msg, _ := v["msg"].(map[string]any); msg["type"] != "back" || msg["data"] != "y" || m.FD < 0 {
					t.Fatalf("hand-back %#v, fd %d", v, m.FD)
				}
				back = m.FD
			}
			if err := c.Send(map[string]any{"cmd": "NODE_HANDLE_ACK"}); err != nil {
				t.Fatal(err)
			}
			for {
				m, err := c.Read()
				if err != nil {
					t.Fatal(err)
				}
				if v, _ := m.Value.(map[string]any); v["echo"] != nil {
					break
				}
			}
			if _, err := unix.Write(back, []byte("back")); err != nil {
				t.Fatal(err)
			}
			unix.Close(back)
			ours.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(ours)
			if err != nil || string(got) != "back" {
				t.Fatalf("read %q, %v", got, err)
			}
		})
	}
}

// withFD runs fn with c's fd.
func withFD(t *testing.T, c net.Conn, fn func(fd int) error) error {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}
