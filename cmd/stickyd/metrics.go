package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/primary"
)

// metricsShutdownTimeout bounds how long in-flight scrapes may take once
// stickyd stops.
const metricsShutdownTimeout = time.Second

// serveMetrics listens on addr and serves m.Handler (/metrics, /healthz,
// /readyz) on its own goroutine. It returns a stop function that shuts the
// server down (waiting up to metricsShutdownTimeout for scrapes in flight)
// and returns once the serving goroutine has ended; or an error if addr
// cannot be listened on.
func serveMetrics(addr string, m *primary.Metrics, log hclog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server failed", "error", err)
		}
	}()
	// Not "addr": the primary's own "listening addr=" line names the
	// client port.
	log.Info("serving metrics", "metrics_url", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-done
	}, nil
}
