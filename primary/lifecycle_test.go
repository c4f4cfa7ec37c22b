package primary

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
)

// TestWorkerKilledMidRequest: SIGKILL a worker while it holds a request:
// that client's connection closes, the other worker keeps serving, the slot
// gets a new instance and the dead instance's sids become unknown.
func TestWorkerKilledMidRequest(t *testing.T) {
	h := startSupervisor(t, "ok", Options{Workers: 2, RestartInitial: 10 * time.Millisecond}, 2)
	sids := sidsByInstance(t, h, 2)
	var victim, other WorkerStatus
	for _, w := range h.s.Status().Workers {
		if w.Slot == 1 {
			victim = w
		} else {
			other = w
		}
	}
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "GET /hang?sid=%s HTTP/1.1\r\nHost: x\r\n\r\n", sids[victim.Instance])
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("hanging request: %q %v", line, err)
	}
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// That client's connection ends (EOF or reset), without a hang.
	if _, err := io.ReadAll(br); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection of the killed worker's client not closed: %v", err)
	}
	// The other worker carries on meanwhile.
	for k := 0; k < 20; k++ {
		_, body, err := h.get("/who?sid=" + sids[other.Instance])
		if err != nil || body != fmt.Sprintf("instance=%d", other.Instance) {
			t.Fatalf("other worker: %q %v", body, err)
		}
	}
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		w, ok := h.instanceOf(1)
		if !ok || w.Instance == victim.Instance || w.State != Ready || w.Restarts != 1 {
			return fmt.Errorf("slot 1 is %+v, want a new ready instance after 1 restart", w)
		}
		return nil
	})
	got, err := h.rawExchange("GET /who?sid=" + sids[victim.Instance] + " HTTP/1.1\r\n\r\n")
	if err != nil || got != wantUnknownSID {
		t.Errorf("sid of the dead instance: got %q %v, want the unknown-sid 400", got, err)
	}
}

// TestMalformedFrameRestartsWorker: a worker that sends a malformed control
// message loses its link and is restarted.
func TestMalformedFrameRestartsWorker(t *testing.T) {
	h := startSupervisor(t, "ok", Options{Workers: 1, RestartInitial: 10 * time.Millisecond}, 1)
	before, _ := h.instanceOf(1)
	h.get("/badframe") // the response may or may not arrive before the kill
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		w, ok := h.instanceOf(1)
		if !ok || w.Instance == before.Instance || w.State != Ready {
			return fmt.Errorf("slot 1 is %+v, want a new ready instance", w)
		}
		return nil
	})
	if err := syscall.Kill(before.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("old worker pid %d still exists: kill(0) = %v", before.PID, err)
	}
}

// TestCrashLoopKeepsServing: workers that die right after Welcome are
// respawned again and again; stickyd keeps answering (503) and Run ends
// cleanly.
func TestCrashLoopKeepsServing(t *testing.T) {
	h := startSupervisor(t, "crash", Options{Workers: 1, RestartInitial: 5 * time.Millisecond, RestartMax: 20 * time.Millisecond}, 0)
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if w, ok := h.instanceOf(1); !ok || w.Restarts < 3 {
			return fmt.Errorf("slot 1 is %+v, want 3 restarts", w)
		}
		return nil
	})
	resp, _, err := h.get("/")
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("during crash loop: %v %v, want 503", resp, err)
	}
	if err := h.stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

// TestUnauthenticatedLinks: links with a wrong secret, an unknown instance,
// a first message other than Hello, or a second link for an instance are
// closed without Welcome; the hub socket applies the same check.
func TestUnauthenticatedLinks(t *testing.T) {
	h := startSupervisor(t, "ok", Options{Workers: 1}, 1)
	w, _ := h.instanceOf(1)
	h.s.routingMu.Lock()
	secret := h.s.instances[w.Instance].secret
	h.s.routingMu.Unlock()
	wrong := secret
	wrong[0] ^= 1
	tests := []struct {
		name string
		m    ipc.Message
	}{
		{"wrong secret", ipc.Message{Type: ipc.MsgHello, Instance: w.Instance, Secret: wrong}},
		{"unknown instance", ipc.Message{Type: ipc.MsgHello, Instance: 4242, Secret: secret}},
		{"ready first", ipc.Message{Type: ipc.MsgReady}},
		{"second link", ipc.Message{Type: ipc.MsgHello, Instance: w.Instance, Secret: secret}},
	}
	for _, tt := range tests {
		cc, err := ipc.DialControl(h.s.ctlPath)
		if err != nil {
			t.Fatal(err)
		}
		cc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if err := cc.Send(&tt.m, -1); err != nil {
			t.Fatalf("%s: send: %v", tt.name, err)
		}
		m, f, err := cc.Recv()
		if f != nil {
			f.Close()
		}
		if got, want := err, io.EOF; got != want {
			t.Errorf("%s: Recv = %v %v, want link closed (%v)", tt.name, m.Type, got, want)
		}
		cc.Close()
	}
	// Hub socket: wrong secret closed; the right one goes to the Hub.
	fc, err := ipc.DialHub(h.s.hubPath)
	if err != nil {
		t.Fatal(err)
	}
	fc.WriteFrame(ipc.FrameHello, ipc.AppendHelloFrame(nil, w.Instance, wrong, 1))
	fc.Flush()
	if _, _, err := fc.ReadFrame(); err == nil {
		t.Errorf("hub link with wrong secret: ReadFrame succeeded, want closed")
	}
	fc.Close()
	// The worker itself is unaffected.
	if _, body, err := h.get("/"); err != nil || body != fmt.Sprintf("instance=%d", w.Instance) {
		t.Errorf("after rejected links: %q %v", body, err)
	}
}

// TestShutdown: Run returns nil, a worker that ignores Drain is killed at
// the shutdown timeout, and no worker process is left.
func TestShutdown(t *testing.T) {
	for _, mode := range []string{"ok", "nodrain"} {
		t.Run(mode, func(t *testing.T) {
			h := startSupervisor(t, mode, Options{Workers: 2, ShutdownTimeout: 300 * time.Millisecond}, 2)
			var pids []int
			for _, w := range h.s.Status().Workers {
				pids = append(pids, w.PID)
			}
			if err := h.stop(); err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
			for _, pid := range pids {
				if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
					t.Errorf("worker %d survives shutdown: kill(0) = %v", pid, err)
				}
			}
			if _, err := os.Stat(h.s.dir); !os.IsNotExist(err) {
				t.Errorf("socket dir %s left behind: %v", h.s.dir, err)
			}
			// Not a dial: another package's test may bind the freed port.
			if held, err := testutil.HoldsListener(h.addr); held || err != nil {
				t.Errorf("listener still open after shutdown (%v)", err)
			}
		})
	}
}

// TestAuthenticate: the uid, message type, instance and secret checks.
func TestAuthenticate(t *testing.T) {
	s, err := New(Options{Argv: []string{"x"}, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := newInstance(7, 1, 0)
	s.instances[in.id] = in
	uid := uint32(os.Getuid())
	wrong := in.secret
	wrong[31] ^= 0x80
	tests := []struct {
		name    string
		uid     uint32
		m       ipc.Message
		wantErr error
	}{
		{"ok", uid, ipc.Message{Type: ipc.MsgHello, Instance: 7, Secret: in.secret}, nil},
		{"other uid", uid + 1, ipc.Message{Type: ipc.MsgHello, Instance: 7, Secret: in.secret}, ipc.ErrAuth},
		{"wrong secret", uid, ipc.Message{Type: ipc.MsgHello, Instance: 7, Secret: wrong}, ipc.ErrAuth},
		{"zero secret", uid, ipc.Message{Type: ipc.MsgHello, Instance: 7}, ipc.ErrAuth},
		{"unknown instance", uid, ipc.Message{Type: ipc.MsgHello, Instance: 8, Secret: in.secret}, ipc.ErrAuth},
		{"not hello", uid, ipc.Message{Type: ipc.MsgLoad, Instance: 7, Secret: in.secret}, ipc.ErrAuth},
	}
	for _, tt := range tests {
		got, err := s.authenticate(tt.uid, tt.m)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.wantErr)
		}
		if (got == in) != (tt.wantErr == nil) {
			t.Errorf("%s: instance %v", tt.name, got)
		}
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr error
	}{
		{"ok", Options{Argv: []string{"app"}, Workers: 2}, nil},
		{"no argv", Options{Workers: 2}, ErrNoCommand},
		{"empty argv0", Options{Argv: []string{""}, Workers: 2}, ErrNoCommand},
		{"no workers", Options{Argv: []string{"app"}}, ErrBadOptions},
		{"bad policy", Options{Argv: []string{"app"}, Workers: 1, Balance: "nope"}, ErrBadOptions},
		{"negative timeout", Options{Argv: []string{"app"}, Workers: 1, PeekTimeout: -1}, ErrBadOptions},
	}
	for _, tt := range tests {
		_, err := New(tt.opts)
		if got, want := err, tt.wantErr; !errors.Is(got, want) || (want == nil && got != nil) {
			t.Errorf("%s: error %v, want %v", tt.name, got, want)
		}
	}
}
