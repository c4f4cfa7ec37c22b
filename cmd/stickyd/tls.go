package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// certCheckEvery bounds how often certStore looks at its files.
const certCheckEvery = time.Second

// certStore serves the certificate of --tls-cert/--tls-key and picks up a
// renewed pair (certbot, cert-manager) without a restart: at most once per
// certCheckEvery, a handshake checks the files' modification times and
// reloads them when either changed. A pair that fails to load is logged
// once (until the files change again) and the previous certificate stays
// in use. Safe for concurrent use.
type certStore struct {
	certFile, keyFile string
	log               hclog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	mtimes  [2]time.Time
	checked time.Time
}

// newCertStore loads the pair once; an error here stops stickyd.
func newCertStore(certFile, keyFile string, log hclog.Logger) (*certStore, error) {
	c := &certStore{certFile: certFile, keyFile: keyFile, log: log}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certStore) load() error {
	var mt [2]time.Time
	for i, f := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		mt[i] = fi.ModTime()
	}
	c.mtimes, c.checked = mt, time.Now() // a bad pair is reported once per change
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	c.cert = &cert
	return nil
}

// getCertificate is the tls.Config.GetCertificate of the public listener.
func (c *certStore) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.checked) >= certCheckEvery {
		c.checked = time.Now()
		if c.changed() {
			if err := c.load(); err != nil {
				c.log.Error("TLS certificate changed but does not load; keeping the previous one", "error", err)
			} else {
				c.log.Info("TLS certificate reloaded", "cert", c.certFile)
			}
		}
	}
	return c.cert, nil
}

func (c *certStore) changed() bool {
	for i, f := range []string{c.certFile, c.keyFile} {
		if fi, err := os.Stat(f); err == nil && !fi.ModTime().Equal(c.mtimes[i]) {
			return true
		}
	}
	return false
}

// tlsConfig is the public listener's TLS configuration: HTTP/1.1 only
// (workers speak HTTP/1.1; WebSocket needs it), TLS 1.2 or later.
func (c *certStore) tlsConfig() *tls.Config {
	return &tls.Config{
		GetCertificate: c.getCertificate,
		NextProtos:     []string{"http/1.1"},
		MinVersion:     tls.VersionTLS12,
	}
}
