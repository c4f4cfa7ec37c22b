// Command demo is stickyd's browser demo: a chat with a room per URL path
// (/room/NAME), the live list of every room of the cluster with its
// members, and per tab the worker pid and transport in use; plus the
// Socket.IO Admin UI at /admin/ showing every worker. Run it under
// stickyd (see README.md):
//
//	npm ci --prefix examples/demo
//	go build -o bin/ ./cmd/stickyd ./examples/demo
//	bin/stickyd --listen 127.0.0.1:3000 -- bin/demo
//
// It serves the official client (/socket.io/socket.io.js) and the Admin
// UI from the npm packages that `npm ci --prefix examples/demo` installs
// (-assets names that folder) and exits with a message naming the command
// when they are missing.
//
// Flags:
//
//	-assets DIR          folder holding node_modules (default examples/demo)
//	-admin=false         no Admin UI and no /admin namespace
//	-admin-user NAME     Admin UI login (default admin)
//	-admin-password-hash HASH  bcrypt hash of its password (also
//	                     $DEMO_ADMIN_PASSWORD_HASH); none: no login
//
// # Concurrency
//
// The chat's handlers run on socketio's goroutines and share nothing but
// immutable fields; every room list is rebuilt from FetchSockets. main
// alone handles SIGTERM and SIGINT (a context that ends the serving).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

func main() {
	logger := hclog.New(&hclog.LoggerOptions{Name: "demo", Level: hclog.Info, Output: os.Stderr})
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("demo stopped", "error", err)
		os.Exit(1)
	}
}

// config is the demo's command line.
type config struct {
	assets        string
	admin         bool
	adminUser     string
	adminPassHash string
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&cfg.assets, "assets", "examples/demo", "folder whose node_modules holds socket.io-client and @socket.io/admin-ui (npm ci --prefix FOLDER)")
	fs.BoolVar(&cfg.admin, "admin", true, "serve the Socket.IO Admin UI at /admin/ and its /admin namespace")
	fs.StringVar(&cfg.adminUser, "admin-user", "admin", "Admin UI username (with -admin-password-hash)")
	fs.StringVar(&cfg.adminPassHash, "admin-password-hash", os.Getenv("DEMO_ADMIN_PASSWORD_HASH"), "bcrypt hash of the Admin UI password; empty: no login")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return cfg, nil
}

// shutdownGrace bounds closing the Socket.IO sessions after a drain.
const shutdownGrace = 5 * time.Second
