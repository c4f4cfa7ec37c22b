package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"github.com/stickyd/stickyd/adapter"
	"github.com/stickyd/stickyd/admin"
	"github.com/stickyd/stickyd/engineio"
	"github.com/stickyd/stickyd/socketio"
	"github.com/stickyd/stickyd/worker"
)

//go:embed static
var staticFiles embed.FS

// run serves the demo until ctx ends or stickyd drains the worker.
func run(ctx context.Context, cfg config, logger hclog.Logger) error {
	ln, err := worker.Listen()
	if err != nil {
		return err
	}
	cluster, err := adapter.New(ln, adapter.Options{Logger: logger.Named("adapter")})
	if err != nil {
		ln.Close()
		return err
	}
	io := socketio.NewServer(socketio.Options{
		Options: ln.EngineOptions(engineio.Options{}),
		Adapter: cluster.Adapter,
	})
	mux, closeAdmin, err := routes(cfg, io, logger)
	if err != nil {
		ln.Close()
		return err
	}
	defer closeAdmin()
	newChat(io, os.Getpid(), logger).register()
	logger.Info("serving", "pid", os.Getpid(), "managed", ln.Managed())
	served := worker.ServeListener(ctx, ln, mux)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	_ = io.Engine().Shutdown(sctx)
	return served
}

// routes is the demo's HTTP surface: the pages, the client bundle next to
// Socket.IO, and the Admin UI when enabled (closeAdmin stops it).
func routes(cfg config, io *socketio.Server, logger hclog.Logger) (mux *http.ServeMux, closeAdmin func(), err error) {
	clientDir := filepath.Join(cfg.assets, "node_modules", "socket.io-client", "dist")
	client, err := socketio.NewClientHandler(socketio.ClientOptions{Dir: clientDir}, io)
	if err != nil {
		return nil, nil, fmt.Errorf("%w\nthe demo serves the official client from npm: run `npm ci --prefix %s` (or pass -assets)", err, cfg.assets)
	}
	static, _ := fs.Sub(staticFiles, "static")
	mux = http.NewServeMux()
	mux.Handle(socketio.DefaultPath, client)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		target := "/room/lobby"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusFound)
	})
	mux.HandleFunc("GET /room/{name}", func(w http.ResponseWriter, r *http.Request) {
		if !validRoom(r.PathValue("name")) {
			http.Error(w, "room names are 1 to 32 letters, digits, - or _", http.StatusBadRequest)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, static, "index.html")
	})
	closeAdmin = func() {}
	if cfg.admin {
		if closeAdmin, err = adminRoutes(cfg, io, mux, logger); err != nil {
			return nil, nil, err
		}
	}
	return mux, closeAdmin, nil
}

// adminRoutes instruments io for the Admin UI and serves the UI's files at
// /admin/ (a page naming the npm command when they are missing).
func adminRoutes(cfg config, io *socketio.Server, mux *http.ServeMux, logger hclog.Logger) (func(), error) {
	opts := admin.Options{Logger: logger.Named("admin")}
	if cfg.adminPassHash != "" {
		opts.Auth = &admin.BasicAuth{Username: cfg.adminUser, PasswordHash: cfg.adminPassHash}
	}
	a, err := admin.Instrument(io, opts)
	if err != nil {
		return nil, err
	}
	uiDir := filepath.Join(cfg.assets, "node_modules", "@socket.io", "admin-ui", "ui", "dist")
	if _, statErr := os.Stat(filepath.Join(uiDir, "index.html")); statErr != nil {
		logger.Warn("Admin UI files missing: /admin/ answers 503", "dir", uiDir, "fix", "npm ci --prefix "+cfg.assets)
		mux.HandleFunc("GET /admin/", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "the Admin UI is not installed: run npm ci --prefix "+cfg.assets, http.StatusServiceUnavailable)
		})
	} else {
		mux.Handle("GET /admin/", http.StripPrefix("/admin/", http.FileServer(http.Dir(uiDir))))
	}
	return func() { _ = a.Close() }, nil
}

// validRoom reports whether name is a room name the demo accepts.
func validRoom(name string) bool {
	if len(name) == 0 || len(name) > 32 {
		return false
	}
	for _, c := range name {
		if !(c == '-' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// errBadRoom is the connect error of a socket asking for a bad room.
var errBadRoom = errors.New("demo: bad room name")
