package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAnyHostFlagErrors: what each bad combination of the fleet flags
// gets: exit 2 and one line for flags that cannot go together, exit 1
// for a fleet that cannot be joined.
func TestAnyHostFlagErrors(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	short := filepath.Join(dir, "short")
	os.WriteFile(secret, []byte("a-long-enough-fleet-secret\n"), 0o600)
	os.WriteFile(short, []byte("short\n"), 0o600)
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{[]string{"--host-id", "0", "--", "/bin/true"}, 2, "want 1-65535"},
		{[]string{"--host-id", "70000", "--", "/bin/true"}, 2, "want 1-65535"},
		{[]string{"--peer", "2", "--", "/bin/true"}, 2, "want ID=HOST:PORT"},
		{[]string{"--peer", "2=nowhere", "--", "/bin/true"}, 2, "missing port"},
		{[]string{"--host-id", "1", "--", "/bin/true"}, 2, "need --fleet-secret-file"},
		{[]string{"--fleet-secret-file", secret, "--peer", "2=127.0.0.1:1", "--", "/bin/true"}, 2, "--peer needs --host-id"},
		{[]string{"--fleet-secret-file", secret, "--", "/bin/true"}, 2, "needs --redis or --peer"},
		{[]string{"--fleet-secret-file", secret, "--host-id", "1", "--peer", "2=127.0.0.1:1", "--tls-cert", "c", "--tls-key", "k", "--", "/bin/true"}, 2, "needs a plain listener"},
		{[]string{"--fleet-secret-file", secret, "--host-id", "1", "--peer", "2=127.0.0.1:1", "--listen", ":0", "--", "/bin/true"}, 1, "give --advertise"},
		{[]string{"--fleet-secret-file", short, "--host-id", "1", "--peer", "2=127.0.0.1:1", "--listen", "127.0.0.1:0", "--", "/bin/true"}, 1, "at least 16 bytes"},
		{[]string{"--fleet-secret-file", filepath.Join(dir, "none"), "--host-id", "1", "--peer", "2=127.0.0.1:1", "--listen", "127.0.0.1:0", "--", "/bin/true"}, 1, "fleet secret"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"--control", filepath.Join(dir, "c.sock")}, tt.args...), &stdout, &stderr)
		if code != tt.wantCode || !strings.Contains(stderr.String(), tt.wantErr) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr.String(), tt.wantCode, tt.wantErr)
		}
	}
}
