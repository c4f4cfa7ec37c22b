package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/internal/systemd"
	"github.com/stickyd/stickyd/operator"
	"github.com/stickyd/stickyd/primary"
)

// opsConfig holds the operations flags: operator socket and reloads.
type opsConfig struct {
	control            string
	reloadDrainTimeout time.Duration
	maxGenerations     int
}

func addOpsFlags(fs *flag.FlagSet, c *opsConfig) {
	fs.StringVar(&c.control, "control", "", "path of the operator socket that `stickyd status|reload|stop` use (default "+operator.DefaultPath()+")")
	fs.DurationVar(&c.reloadDrainTimeout, "reload-drain-timeout", primary.DefaultReloadDrainTimeout, "after a reload (SIGHUP or `stickyd reload`), how long old workers keep serving their sessions before they are drained")
	fs.IntVar(&c.maxGenerations, "max-generations", primary.DefaultMaxGenerations, "worker generations running at once during reloads (current included); a reload beyond it drains the oldest at once")
}

func (c *opsConfig) validate() error {
	switch {
	case c.reloadDrainTimeout <= 0:
		return errors.New("--reload-drain-timeout must be positive")
	case c.maxGenerations < 1:
		return fmt.Errorf("--max-generations must be at least 1, got %d", c.maxGenerations)
	}
	return nil
}

// openListener returns the socket passed by systemd socket activation
// (LISTEN_FDS) when there is one, else a TCP listener on addr.
func openListener(addr string, explicit bool, log hclog.Logger) (net.Listener, error) {
	ln, err := systemd.Listener()
	if err != nil {
		return nil, err
	}
	if ln != nil {
		if explicit {
			log.Warn("socket activation: ignoring --listen", "listen", addr)
		}
		log.Info("socket activation: serving the inherited socket", "addr", ln.Addr().String())
		return ln, nil
	}
	return net.Listen("tcp", addr)
}

// ops runs what surrounds Supervisor.Run: signals (SIGTERM/SIGINT stop,
// a second one kills the workers, SIGHUP reloads) and the operator socket.
type ops struct {
	s        *primary.Supervisor
	log      hclog.Logger
	cancel   context.CancelFunc
	stopping atomic.Bool
	sigs     chan os.Signal
	done     chan struct{}
	ctl      *operator.Server
}

// startOps installs the signal handlers and opens the operator socket at
// path ("" for the default; failing on the default path only disables the
// socket with a warning). cancel stops Run. It returns the control path in
// use ("" when disabled).
func startOps(s *primary.Supervisor, path string, cancel context.CancelFunc, log hclog.Logger) (*ops, string, error) {
	o := &ops{s: s, log: log, cancel: cancel, sigs: make(chan os.Signal, 8), done: make(chan struct{})}
	explicit := path != ""
	if !explicit {
		path = operator.DefaultPath()
	}
	ctl, err := operator.Listen(operator.Options{
		Path:   path,
		Status: s.Report,
		Reload: s.Reload,
		Stop:   func() { o.stop("stickyd stop") },
		Logger: log.Named("control"),
	})
	switch {
	case err != nil && explicit:
		return nil, "", fmt.Errorf("--control %s: %w", path, err)
	case err != nil:
		log.Warn("operator socket disabled; pass --control PATH", "path", path, "error", err)
		path = ""
	default:
		o.ctl = ctl
	}
	signal.Notify(o.sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go o.handleSignals()
	return o, path, nil
}

func (o *ops) handleSignals() {
	for {
		select {
		case sig := <-o.sigs:
			switch {
			case sig == syscall.SIGHUP:
				o.log.Info("SIGHUP: reloading")
				go func() {
					if err := o.s.Reload(context.Background()); err != nil {
						o.log.Error("reload failed", "error", err)
					}
				}()
			case !o.stop(sig.String()):
				o.log.Warn("second signal: killing the workers now", "signal", sig.String())
				o.s.Kill()
			}
		case <-o.done:
			return
		}
	}
}

// stop begins the shutdown once; it reports whether this call began it.
func (o *ops) stop(reason string) bool {
	if o.stopping.Swap(true) {
		return false
	}
	o.log.Info("stopping: draining workers", "reason", reason)
	o.cancel()
	return true
}

// Close removes the signal handlers and the operator socket.
func (o *ops) Close() {
	signal.Stop(o.sigs)
	close(o.done)
	if o.ctl != nil {
		o.ctl.Close()
	}
}
