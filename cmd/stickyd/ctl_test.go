package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickyd/stickyd/operator"
	"github.com/stickyd/stickyd/primary"
)

// startFakeControl serves an operator socket whose status has two workers
// and whose reload fails when failReload is set.
func startFakeControl(t *testing.T, failReload *atomic.Bool, stops *atomic.Int32) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "control.sock")
	cs, err := operator.Listen(operator.Options{
		Path: path,
		Status: func() *operator.StatusReport {
			return &operator.StatusReport{PID: 77, Generation: 1, Workers: []operator.WorkerReport{
				{Slot: 1, Instance: 3, PID: 1003, Generation: 1, State: "ready", UptimeSec: 90, Sessions: 5, Connections: 6, Restarts: 2},
				{Slot: 1, Instance: 1, PID: 1001, Generation: 0, State: "draining", Sessions: 1, Connections: 1},
			}, Totals: operator.StatusTotals{Workers: 2, Ready: 1, Sessions: 6, Connections: 7},
				Reload: operator.ReloadReport{Count: 1, Generation: 1, At: time.Now(), Draining: []uint32{0}}}
		},
		Reload: func(context.Context) error {
			if failReload.Load() {
				return fmt.Errorf("%w: slot 2: worker exited before ready: exit status 1", primary.ErrReloadFailed)
			}
			return nil
		},
		Stop: func() { stops.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return path
}

func TestCtlCommands(t *testing.T) {
	var fail atomic.Bool
	var stops atomic.Int32
	path := startFakeControl(t, &fail, &stops)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := runCtl(args[0], args[1:], &out, &errb)
		return code, out.String(), errb.String()
	}

	code, out, _ := run("status", "--control", path)
	if code != 0 {
		t.Fatalf("status exit %d", code)
	}
	for _, re := range []string{
		`stickyd pid 77, generation 1`,
		`SLOT +INSTANCE +PID +GEN +STATE +UPTIME +SESSIONS +CONNS +RESTARTS`,
		`\n1 +3 +1003 +1 +ready +1m30s +5 +6 +2\n`,
		`\n1 +1 +1001 +0 +draining +\S+ +1 +1 +0\n`,
		`total: 2 workers \(1 ready in generation 1\), 6 sessions, 7 connections`,
		`last reload: generation 1 ok at `,
		`draining generations: 0`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("status output does not match %q:\n%s", re, out)
		}
	}

	code, out, _ = run("status", "--json", "--control", path)
	var st operator.StatusReport
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 {
		t.Fatalf("status --json: exit %d, %v\n%s", code, err, out)
	}
	if got, want := fmt.Sprintf("%d %d %+v", st.PID, len(st.Workers), st.Totals), "77 2 {Workers:2 Ready:1 Sessions:6 Connections:7}"; got != want {
		t.Errorf("status --json: got %s, want %s", got, want)
	}

	if code, out, _ := run("reload", "--control", path); code != 0 || out != "reloaded\n" {
		t.Errorf("reload: exit %d %q", code, out)
	}
	fail.Store(true)
	code, _, errs := run("reload", "--control", path)
	if code != 1 || !strings.Contains(errs, "primary: reload failed: slot 2: worker exited before ready: exit status 1") {
		t.Errorf("failed reload: exit %d, stderr %q; want 1 and the reason", code, errs)
	}
	if code, out, _ := run("stop", "--control", path); code != 0 || out != "stopping\n" || stops.Load() != 1 {
		t.Errorf("stop: exit %d %q, stops %d", code, out, stops.Load())
	}
}

// TestCtlBadInput: what each bad invocation gets.
func TestCtlBadInput(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.sock")
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{[]string{"status", "--control", missing}, 1, "connect: no such file or directory"},
		{[]string{"stop", "--control", missing}, 1, "connect: no such file or directory"},
		{[]string{"reload", "--json"}, 2, "flag provided but not defined: -json"},
		{[]string{"status", "extra"}, 2, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := runCtl(tt.args[0], tt.args[1:], &out, &errb)
		if code != tt.wantCode || !strings.Contains(errb.String(), tt.wantErr) {
			t.Errorf("%v: exit %d stderr %q, want %d and %q", tt.args, code, errb.String(), tt.wantCode, tt.wantErr)
		}
	}
	var out bytes.Buffer
	if code := runCtl("status", []string{"--help"}, &out, &out); code != 0 || !strings.Contains(out.String(), "-control") || !strings.Contains(out.String(), "-json") {
		t.Errorf("status --help: exit %d\n%s", code, out.String())
	}
}
