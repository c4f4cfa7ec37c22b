// Command refapp is the reference application: the event set of the bench
// kit's README (../shared/bench/README.md), served by our engineio and socketio
// packages. It runs standalone on $PORT, or unchanged as a stickyd worker
// (`stickyd --workers 2 -- ./refapp`), where rooms span every worker.
//
// Environment:
//
//	PORT           public port when standalone (default 3000)
//	CONFORMANCE=1  pingInterval 300 ms, pingTimeout 200 ms, maxHttpBufferSize
//	               1e6, connectTimeout 1 s, CORS origin "*"
//	PING_TIMEOUT_MS=n  pingTimeout n ms, over CONFORMANCE's (tests that
//	               want pings every 300 ms but must not lose a session
//	               when a loaded machine delays a pong)
//	ENGINEIO_ECHO=1  a plain Engine.IO echo server at /engine.io/ instead of
//	               Socket.IO (for the engine.io protocol suite)
//	RECOVERY=1     connection state recovery on (2 minutes)
//	CLUSTER_OPS=1  events that drive every cluster adapter operation (see
//	               ops.go), for the tests with the official client
//	REDIS_URL=redis://host:port  one peer of a Redis fleet, like a Node
//	               server with @socket.io/redis-adapter (see redis.go;
//	               REDIS_KEY: key prefix, default "socket.io")
//	REFAPP_MEMTRIM=0  no memtrim.Trimmer (by default the heap is trimmed
//	               once the process goes quiet: package memtrim)
//	REFAPP_FAIL_IF_EXISTS=path  exit 1 at start when path exists (tests
//	               make a reload's new generation fail with it)
//
// Beyond the bench kit's set, namespace /private has a middleware that
// accepts auth {"token":"letmein"} and refuses others with "unauthorized",
// data {"reason":"bad token"}.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stickyd/stickyd/engineio"
	"github.com/stickyd/stickyd/memtrim"
	"github.com/stickyd/stickyd/socketio"
	"github.com/stickyd/stickyd/worker"
)

func main() {
	logger := hclog.New(&hclog.LoggerOptions{Name: "refapp", Level: hclog.Info, Output: os.Stderr})
	if err := run(logger); err != nil {
		logger.Error("refapp stopped", "error", err)
		os.Exit(1)
	}
}

func run(logger hclog.Logger) error {
	if p := os.Getenv("REFAPP_FAIL_IF_EXISTS"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("refapp: %s exists (REFAPP_FAIL_IF_EXISTS)", p)
		}
	}
	ln, err := worker.Listen()
	if err != nil {
		return err
	}
	if dir := os.Getenv("REFAPP_CPUPROFILE_DIR"); dir != "" {
		stop, err := startCPUProfile(dir)
		if err != nil {
			return err
		}
		defer stop()
	}
	if os.Getenv("REFAPP_MEMTRIM") != "0" {
		trim := memtrim.Start(memtrim.Options{Logger: logger.Named("memtrim")})
		defer trim.Stop()
	}
	eopts := engineOptions(ln)

	mux := http.NewServeMux()
	var shutdown func(context.Context) error
	if os.Getenv("ENGINEIO_ECHO") == "1" {
		eopts.Path = "/engine.io/"
		eng := engineio.NewServer(eopts)
		eng.OnConnection(func(s *engineio.Socket) {
			s.OnMessage(func(data []byte, binary bool) {
				if binary {
					_ = s.Write(engineio.NewBinaryFrame(data))
				} else {
					_ = s.Write(engineio.NewTextFrame(data))
				}
			})
		})
		mux.Handle("/engine.io/", eng)
		shutdown = eng.Shutdown
	} else {
		io, fleet, err := newSocketIO(ln, eopts, logger)
		if err != nil {
			return err
		}
		defer fleet.close()
		mux.Handle(socketio.DefaultPath, io)
		shutdown = io.Engine().Shutdown
	}

	srv := &http.Server{Handler: ln.Handler(mux), ReadHeaderTimeout: 30 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if err := ln.Ready(); err != nil {
		return err
	}
	logger.Info("serving", "addr", ln.Addr().String(), "pid", os.Getpid(), "managed", ln.Managed())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-ln.Draining():
	case <-sigs:
	case err := <-served:
		return err
	}
	deadline := ln.DrainDeadline()
	if deadline.IsZero() {
		deadline = time.Now().Add(10 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	_ = shutdown(ctx)
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// engineOptions plugs the worker's sid generator and session counting into
// Engine.IO, with the bench kit's CONFORMANCE settings when asked.
func engineOptions(ln *worker.Listener) engineio.Options {
	o := engineio.Options{
		GenerateID:     ln.GenerateID,
		OnSessionOpen:  func(string) { ln.SessionOpened() },
		OnSessionClose: func(string, string) { ln.SessionClosed() },
	}
	if os.Getenv("CONFORMANCE") == "1" {
		o.PingInterval = 300 * time.Millisecond
		o.PingTimeout = 200 * time.Millisecond
		o.MaxHTTPBufferSize = 1e6
		o.CORS = &engineio.CORSOptions{Origin: "*"}
	}
	if ms, err := strconv.Atoi(os.Getenv("PING_TIMEOUT_MS")); err == nil && ms > 0 {
		o.PingTimeout = time.Duration(ms) * time.Millisecond
	}
	return o
}

func newSocketIO(ln *worker.Listener, eopts engineio.Options, logger hclog.Logger) (*socketio.Server, *fleet, error) {
	opts := socketio.Options{Options: eopts}
	if os.Getenv("CONFORMANCE") == "1" {
		opts.ConnectTimeout = time.Second
	}
	if os.Getenv("RECOVERY") == "1" {
		opts.ConnectionStateRecovery = &socketio.RecoveryOptions{MaxDisconnectionDuration: 2 * time.Minute}
	}
	fleet, err := redisFleet(&opts, logger)
	if err != nil {
		return nil, nil, err
	}
	if fleet == nil {
		if err := clusterAdapter(ln, &opts, logger); err != nil {
			return nil, nil, err
		}
	}
	io := socketio.NewServer(opts)
	pid := os.Getpid()
	ops := os.Getenv("CLUSTER_OPS") == "1"
	if ops {
		if err := registerServerOps(io, pid); err != nil {
			return nil, nil, fmt.Errorf("refapp: cluster operations: %w", err)
		}
	}

	io.OnConnection(func(s *socketio.Socket) {
		if ops {
			registerSocketOps(io, s, pid, logger)
		}
		_ = s.Emit("auth", s.Auth())
		_ = s.On("message", func(args socketio.Args, _ socketio.AckFunc) {
			_ = s.Emit("message-back", args)
		})
		_ = s.On("message-with-ack", func(args socketio.Args, ack socketio.AckFunc) {
			if ack != nil {
				_ = ack(args)
			}
		})
		_ = s.On("whoami", func(ack socketio.AckFunc) {
			_ = ack(map[string]int{"pid": pid})
		})
		_ = s.On("join", func(room string, ack socketio.AckFunc) {
			s.Join(room)
			if ack != nil {
				_ = ack(pid)
			}
		})
		_ = s.On("leave", func(room string, ack socketio.AckFunc) {
			s.Leave(room)
			if ack != nil {
				_ = ack(pid)
			}
		})
		_ = s.On("broadcast", func(room string, payload json.RawMessage, ack socketio.AckFunc) {
			_ = io.To(room).Emit("bcast", payload)
			if ack != nil {
				_ = ack("ok")
			}
		})
		_ = s.On("count", func(room string, ack socketio.AckFunc) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			sockets, err := io.In(room).FetchSockets(ctx)
			if err != nil {
				logger.Warn("count failed", "room", room, "error", err)
				_ = ack(-1)
				return
			}
			_ = ack(len(sockets))
		})
		_ = s.On("server-ping", func(ack socketio.AckFunc) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			responses, err := io.ServerSideEmitWithAck(ctx, "ping-all")
			if err != nil {
				logger.Warn("server-ping", "error", err)
			}
			_ = ack(len(responses))
		})
	})
	if err := io.OnServerSideEmit("ping-all", func(ack socketio.AckFunc) {
		_ = ack(pid)
	}); err != nil {
		return nil, nil, fmt.Errorf("refapp: ping-all handler: %w", err)
	}

	io.Of("/custom").OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("auth", s.Auth())
	})

	private := io.Of("/private")
	private.Use(func(s *socketio.Socket) error {
		var auth struct{ Token string }
		_ = json.Unmarshal(s.Auth(), &auth)
		if auth.Token != "letmein" {
			return &socketio.ConnectError{Message: "unauthorized", Data: map[string]string{"reason": "bad token"}}
		}
		return nil
	})
	private.OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("auth", s.Auth())
	})
	// every namespace exists now: wait until their subscriptions are in place
	if err := fleet.sync(); err != nil {
		fleet.close()
		return nil, nil, err
	}
	return io, fleet, nil
}
