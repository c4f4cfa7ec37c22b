package primary

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// Real Node workers (testdata/nodeapp) under a Supervisor: sessions are
// routed by sid, a killed worker is respawned, and after Run returns no
// goroutine, fd or process of the Node links is left.
func TestNodeWorkersRunAndStopWithoutLeaks(t *testing.T) {
	app, err := filepath.Abs("../testdata/nodeapp/app.js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not installed")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(app), "node_modules")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("run npm ci in testdata/nodeapp")
		}
		t.Skip("testdata/nodeapp/node_modules missing")
	}
	testutil.CheckNoLeaks(t)
	h := runSupervisor(t, Options{
		Argv: []string{"node", app}, Workers: 2, RestartInitial: 10 * time.Millisecond, ShutdownTimeout: 2 * time.Second,
		NodeSIDs: NodeSIDsRandom,
	}, 2)
	s := h.s
	hc := &http.Client{Timeout: 5 * time.Second}
	session := func() {
		t.Helper()
		resp, err := hc.Get("http://" + h.addr + "/socket.io/?EIO=4&transport=polling")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sid := string(body)[strings.Index(string(body), `"sid":"`)+7:][:20]
		resp, err = hc.Post("http://"+h.addr+"/socket.io/?EIO=4&transport=polling&sid="+sid, "text/plain", strings.NewReader("40"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("session %s: %d %q", sid, resp.StatusCode, body)
		}
	}
	for i := 0; i < 10; i++ {
		session()
	}
	st := s.Status()
	var sessions int64
	for _, w := range st.Workers {
		sessions += w.Sessions
	}
	if sessions != 10 {
		t.Fatalf("sid table counts %d sessions, want 10", sessions)
	}
	syscall.Kill(st.Workers[0].PID, syscall.SIGKILL)
	testutil.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		for _, w := range s.Status().Workers {
			if w.PID == st.Workers[0].PID {
				return io.ErrUnexpectedEOF
			}
		}
		return nil
	})
	testutil.CheckFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if h.readyCount() < 2 {
			return io.ErrUnexpectedEOF
		}
		return nil
	})
	for i := 0; i < 4; i++ {
		session()
	}
	hc.CloseIdleConnections()
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	for _, w := range s.Status().Workers {
		if err := syscall.Kill(w.PID, 0); err == nil {
			t.Errorf("worker %d outlives Run", w.PID)
		}
	}
}
