package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpsFlags: what each bad operations flag gets, and --help documents
// the flags and the subcommands.
func TestOpsFlags(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--reload-drain-timeout", "0s", "--", "/bin/true"}, "--reload-drain-timeout must be positive"},
		{[]string{"--reload-drain-timeout", "soon", "--", "/bin/true"}, `invalid value "soon" for flag -reload-drain-timeout`},
		{[]string{"--max-generations", "0", "--", "/bin/true"}, "--max-generations must be at least 1, got 0"},
		{[]string{"--control", filepath.Join(notDir, "control.sock"), "--listen", "127.0.0.1:0", "--", "/bin/true"}, "cannot open the operator socket"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(tt.args, &stdout, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), tt.wantErr) {
			t.Errorf("%v: exit %d, stderr %q; want non-zero and %q", tt.args, code, stderr.String(), tt.wantErr)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("--help: exit %d", code)
	}
	for _, want := range []string{"-control", "-reload-drain-timeout", "-max-generations", "stickyd status [--json] [--control PATH]", "stickyd reload", "stickyd stop", "SIGHUP reloads"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
}
