package main

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/internal/testutil"
)

// TestCertStoreReloads: a renewed pair is served once its files change; a
// pair that no longer loads leaves the previous certificate in use.
func TestCertStoreReloads(t *testing.T) {
	a, b := testutil.NewTestCert(t), testutil.NewTestCert(t)
	var logs bytes.Buffer
	cs, err := newCertStore(a.CertFile, a.KeyFile, hclog.New(&hclog.LoggerOptions{Output: &logs}))
	if err != nil {
		t.Fatal(err)
	}
	serving := func() []byte {
		t.Helper()
		cs.mu.Lock()
		cs.checked = time.Time{} // due for a look at the files
		cs.mu.Unlock()
		c, err := cs.getCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Certificate[0]
	}
	if got, want := serving(), a.Cert.Certificate[0]; !bytes.Equal(got, want) {
		t.Fatal("not serving the initial certificate")
	}
	// Renewal: the files are replaced (later mtime).
	later := time.Now().Add(time.Hour)
	for _, f := range [][2]string{{b.CertFile, a.CertFile}, {b.KeyFile, a.KeyFile}} {
		data, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], data, 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(f[1], later, later)
	}
	if got, want := serving(), b.Cert.Certificate[0]; !bytes.Equal(got, want) {
		t.Fatal("renewed certificate not picked up")
	}
	// A broken renewal keeps the last good pair.
	if err := os.WriteFile(a.KeyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(a.KeyFile, later.Add(time.Hour), later.Add(time.Hour))
	if got, want := serving(), b.Cert.Certificate[0]; !bytes.Equal(got, want) {
		t.Fatal("a broken pair replaced the certificate")
	}
	serving()
	if got, want := bytes.Count(logs.Bytes(), []byte("does not load")), 1; got != want {
		t.Errorf("%d log lines for the broken pair, want %d: %q", got, want, logs.String())
	}
}
