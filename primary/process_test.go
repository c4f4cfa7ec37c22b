package primary

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stickyd/stickyd/internal/testutil"
)

// TestProcessKillGroup: Kill is idempotent and takes the whole process
// group (a wrapper's children too); the process's output becomes log lines.
func TestProcessKillGroup(t *testing.T) {
	var out testutil.LogBuffer
	log := hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Trace})
	dir := t.TempDir()
	pidFile := dir + "/child"
	p, err := startProcess([]string{"/bin/sh", "-c", "echo hello; echo oops >&2; sleep 100 & echo $! > " + pidFile + "; wait"}, os.Environ(), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	var child int
	testutil.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		b, err := os.ReadFile(pidFile)
		if err != nil || len(b) == 0 || b[len(b)-1] != '\n' {
			return fmt.Errorf("no child pid yet: %v", err)
		}
		child, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err
	})
	p.Kill()
	p.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("process not reaped after Kill")
	}
	p.Kill() // after reaping: no-op
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if alive(child) {
			return fmt.Errorf("grandchild %d alive", child)
		}
		return nil
	})
	logs := out.String()
	for _, want := range []string{"[INFO]  hello:", "[WARN]  oops:"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs %q lack %q", logs, want)
		}
	}
	if got := p.exitStatus(); !strings.Contains(got, "killed") {
		t.Errorf("exit status %q, want killed", got)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func TestParseLogLine(t *testing.T) {
	tests := []struct {
		line      string
		wantLevel string
		wantMsg   string
		wantArgs  int
	}{
		{`2026-11-23T11:51:11.000Z [ERROR] app: boom: key=1`, "error", "app: boom: key=1", 0},
		{`2026-11-23T11:51:11.000Z [DEBUG] hello`, "debug", "hello", 0},
		{`{"@level":"warn","@message":"careful","@timestamp":"x","n":3,"a":"b"}`, "warn", "careful", 4},
		{`plain output`, "info", "plain output", 0},
		{`{"not":"hclog"}`, "info", `{"not":"hclog"}`, 0},
		{`x [NOPE] y`, "info", `x [NOPE] y`, 0},
	}
	for _, tt := range tests {
		level, msg, args := parseLogLine(tt.line, 3 /* hclog.Info */)
		if got, want := level.String(), tt.wantLevel; got != want {
			t.Errorf("%q: level %s, want %s", tt.line, got, want)
		}
		if got, want := msg, tt.wantMsg; got != want {
			t.Errorf("%q: msg %q, want %q", tt.line, got, want)
		}
		if got, want := len(args), tt.wantArgs; got != want {
			t.Errorf("%q: %d args, want %d", tt.line, got, want)
		}
	}
}
