package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// shutdownGrace bounds Serve's graceful shutdown when no deadline is known.
const shutdownGrace = 10 * time.Second

// Serve runs h until ctx is done or the worker is asked to drain: it calls
// Listen, serves HTTP on the Listener with l.Handler(h), reports Ready, and
// on Draining (or ctx done) shuts the server down gracefully until the drain
// deadline (10 s when none), then closes what is left. Hijacked connections
// (WebSockets) are the handler's to close. It returns nil after a drain or
// cancellation, or the error that stopped it.
func Serve(ctx context.Context, h http.Handler) error {
	l, err := Listen()
	if err != nil {
		return err
	}
	return ServeListener(ctx, l, h)
}

// ServeListener is Serve on an existing Listener.
func ServeListener(ctx context.Context, l *Listener, h http.Handler) error {
	srv := &http.Server{Handler: l.Handler(h), ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	if err := l.Ready(); err != nil {
		srv.Close()
		<-errc
		l.Close()
		return err
	}
	select {
	case err := <-errc:
		l.Close()
		return fmt.Errorf("worker: serve: %w", err)
	case <-l.Draining():
	case <-ctx.Done():
	}
	deadline := l.DrainDeadline()
	if deadline.IsZero() {
		deadline = time.Now().Add(shutdownGrace)
	}
	sctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.Close()
		return fmt.Errorf("worker: serve: %w", err)
	}
	return l.Close()
}
