// Command stickyd runs a sticky-routing cluster of workers:
//
//	stickyd [flags] -- ./app [args]
//
// It listens on one TCP address, starts N copies of the app (which use the
// worker package) and hands each connection to the worker that owns the
// request's session, or to one chosen by the balancer. SIGTERM or SIGINT
// drains the workers and exits 0. Run `stickyd --help` for the flags.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/balance"
	"github.com/stickyd/stickyd/hub"
	"github.com/stickyd/stickyd/internal/systemd"
	"github.com/stickyd/stickyd/primary"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // could not start (listen failed, ...)
	exitUsage = 2 // bad flags or no app
)

type config struct {
	workers         int
	listen          string
	balance         string
	logFormat       string
	logLevel        string
	peekTimeout     time.Duration
	maxPeeking      int
	startTimeout    time.Duration
	shutdownTimeout time.Duration
	clientAddr      string
	trustedProxies  []netip.Prefix
	metrics         string
	workerProcs     int // --worker-gomaxprocs
	tlsCert         string
	tlsKey          string
	argv            []string
	workerKind      string
	nodeSerial      string
	nodeAckTimeout  time.Duration
	sidWait         time.Duration
	nodeSIDs        string
	ops             opsConfig
	fleet           fleetConfig
	listenGiven     bool
	redisURL        string
	redisPrefix     string
}

func newFlagSet(cfg *config) *flag.FlagSet {
	fs := flag.NewFlagSet("stickyd", flag.ContinueOnError)
	fs.IntVar(&cfg.workers, "workers", runtime.NumCPU(), "number of worker processes")
	fs.StringVar(&cfg.listen, "listen", "", "TCP address to listen on (default \":$PORT\" if PORT is set, else \":3000\")")
	fs.StringVar(&cfg.balance, "balance", balance.LeastConn, "policy for requests without a session id: "+strings.Join(balance.Names, ", "))
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log level: trace, debug, info, warn or error")
	fs.DurationVar(&cfg.peekTimeout, "peek-timeout", primary.DefaultPeekTimeout, "how long a client may take to send its request line")
	fs.IntVar(&cfg.maxPeeking, "max-peeking", primary.DefaultMaxPeeking, "connections that may wait at once for their request line (or TLS handshake) on the slow path; one more gets 503 (HTTPS: a close)")
	fs.DurationVar(&cfg.startTimeout, "start-timeout", primary.DefaultStartTimeout, "how long a worker may take to become ready before it is killed and respawned")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", primary.DefaultShutdownTimeout, "how long workers may drain on SIGTERM/SIGINT before they are killed")
	fs.IntVar(&cfg.workerProcs, "worker-gomaxprocs", 0, "GOMAXPROCS given to the workers unless the environment sets it: 0 shares the CPUs out (CPUs / workers, at least 1), -1 gives none (Go's default: every worker schedules on all CPUs)")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM certificate (chain) file: serve HTTPS on --listen; the primary terminates TLS and relays each connection to its worker (needs --tls-key; a renewed pair is picked up within a second)")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.StringVar(&cfg.metrics, "metrics", "", "serve Prometheus /metrics, /healthz and /readyz on this TCP address (e.g. 127.0.0.1:9100); off when empty")
	fs.StringVar(&cfg.clientAddr, "client-addr", primary.ClientAddrPeer, "where a client's address (ip-hash, the worker's RemoteAddr) comes from: peer, x-forwarded-for or proxy-protocol (v1); the last two only for --trusted-proxy peers")
	fs.Func("trusted-proxy", "CIDR or address of an upstream proxy whose X-Forwarded-For or PROXY header is believed (repeatable, or comma-separated)", func(v string) error {
		for _, f := range strings.Split(v, ",") {
			p, err := parsePrefix(strings.TrimSpace(f))
			if err != nil {
				return err
			}
			cfg.trustedProxies = append(cfg.trustedProxies, p)
		}
		return nil
	})
	fs.StringVar(&cfg.workerKind, "worker-kind", primary.WorkerKindAuto, "go (workers link stickyd's worker package), node (unmodified @socket.io/sticky apps over Node's IPC channel, see docs/node.md) or auto (node when the command is node)")
	fs.StringVar(&cfg.nodeSerial, "node-serialization", "json", "Node workers' IPC serialization: json or advanced (Buffers cross workers intact; as cluster.setupPrimary({serialization}))")
	fs.DurationVar(&cfg.nodeAckTimeout, "node-ack-timeout", primary.DefaultNodeAckTimeout, "how long a Node worker may take to acknowledge a handed-off connection before it is restarted")
	fs.DurationVar(&cfg.sidWait, "node-sid-wait", primary.DefaultSIDWait, "how long a request whose sid no Node worker has registered yet waits for the registration before it gets 400 (0: the default; negative: no wait)")
	fs.StringVar(&cfg.nodeSIDs, "node-sids", primary.NodeSIDsStickyd, "Node workers' session ids: stickyd (stickyd's preload makes Engine.IO issue ids that name their worker: no request waits) or random (Engine.IO's own, routed by the table @socket.io/sticky fills)")
	fs.StringVar(&cfg.redisURL, "redis", "", "join a Redis fleet (Node's @socket.io/redis-adapter 8.x): redis://[user:pass@]host:port[/db] or rediss://…; the hub relays rooms and cluster requests to the other hosts; off when empty")
	fs.StringVar(&cfg.redisPrefix, "redis-prefix", "socket.io", "key prefix of the fleet's Redis channels (Node's \"key\" option); every server of the fleet uses the same")
	addOpsFlags(fs, &cfg.ops)
	addFleetFlags(fs, &cfg.fleet)
	return fs
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Usage: stickyd [flags] -- ./app [args...]
       stickyd status [--json] [--control PATH]
       stickyd reload [--control PATH]
       stickyd stop [--control PATH]

stickyd starts N copies of ./app and routes each HTTP connection to the
worker that owns the session named by the request's sid query parameter,
balancing connections without one. SIGTERM/SIGINT drain the workers and
exit (a second signal kills them); SIGHUP reloads: a new generation of
workers takes new sessions while the old one keeps its sessions until they
end or --reload-drain-timeout passes. Under systemd it speaks Type=notify
and takes its listener from socket activation (LISTEN_FDS).

Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parseArgs parses the command line. It returns flag.ErrHelp for --help.
func parseArgs(args []string) (*config, *flag.FlagSet, error) {
	cfg := &config{}
	fs := newFlagSet(cfg)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return nil, fs, err
	}
	cfg.argv = fs.Args()
	switch {
	case len(cfg.argv) == 0:
		return nil, fs, errors.New("no app given: want stickyd [flags] -- ./app [args]")
	case cfg.workers < 1:
		return nil, fs, fmt.Errorf("--workers must be at least 1, got %d", cfg.workers)
	case cfg.logFormat != "text" && cfg.logFormat != "json":
		return nil, fs, fmt.Errorf("--log-format must be text or json, got %q", cfg.logFormat)
	case hclog.LevelFromString(cfg.logLevel) == hclog.NoLevel:
		return nil, fs, fmt.Errorf("--log-level must be trace, debug, info, warn or error, got %q", cfg.logLevel)
	case cfg.workerProcs < -1:
		return nil, fs, fmt.Errorf("--worker-gomaxprocs must be -1, 0 or a number of CPUs, got %d", cfg.workerProcs)
	case cfg.maxPeeking < 1:
		return nil, fs, fmt.Errorf("--max-peeking must be at least 1, got %d", cfg.maxPeeking)
	case cfg.peekTimeout <= 0 || cfg.startTimeout <= 0 || cfg.shutdownTimeout <= 0:
		return nil, fs, errors.New("--peek-timeout, --start-timeout and --shutdown-timeout must be positive")
	}
	if err := cfg.ops.validate(); err != nil {
		return nil, fs, err
	}
	if f := fs.Lookup("redis"); f != nil {
		cfg.fleet.redis = f.Value.String() // --redis serves the fleet and the room traffic alike
	}
	if err := cfg.fleet.validate(cfg.tlsCert != ""); err != nil {
		return nil, fs, err
	}
	if _, err := exec.LookPath(cfg.argv[0]); err != nil {
		return nil, fs, fmt.Errorf("app %q: %w", cfg.argv[0], err)
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return nil, fs, errors.New("--tls-cert and --tls-key go together")
	}
	if cfg.tlsCert != "" && cfg.clientAddr != primary.ClientAddrPeer {
		return nil, fs, fmt.Errorf("--client-addr %s needs a plain listener, not --tls-cert", cfg.clientAddr)
	}
	if cfg.clientAddr != primary.ClientAddrPeer && len(cfg.trustedProxies) == 0 {
		return nil, fs, fmt.Errorf("--client-addr %s needs --trusted-proxy", cfg.clientAddr)
	}
	if _, err := balance.New(cfg.balance); err != nil {
		return nil, fs, fmt.Errorf("--balance: %w", err)
	}
	if cfg.metrics != "" {
		if _, _, err := net.SplitHostPort(cfg.metrics); err != nil {
			return nil, fs, fmt.Errorf("--metrics: %w", err)
		}
	}
	if err := validateRedisRooms(cfg); err != nil {
		return nil, fs, err
	}
	cfg.listenGiven = cfg.listen != ""
	if cfg.listen == "" {
		cfg.listen = ":3000"
		if p := os.Getenv("PORT"); p != "" {
			cfg.listen = ":" + p
		}
	}
	return cfg, fs, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && ctlCommands[args[0]] != "" {
		return runCtl(args[0], args[1:], stdout, stderr)
	}
	cfg, fs, err := parseArgs(args)
	if errors.Is(err, flag.ErrHelp) {
		usage(stdout, fs)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "stickyd: %v (see stickyd --help)\n", err)
		return exitUsage
	}
	log := hclog.New(&hclog.LoggerOptions{
		Name:       "stickyd",
		Level:      hclog.LevelFromString(cfg.logLevel),
		JSONFormat: cfg.logFormat == "json",
		Output:     stderr,
	})
	var metrics *primary.Metrics // nil: no metrics, no cost
	var hubMetrics *hub.Metrics
	if cfg.metrics != "" {
		metrics = primary.NewMetrics()
		hubMetrics = hub.NewMetrics(metrics.Registry())
	}
	notifier, err := systemd.NewNotifier()
	if err != nil {
		log.Warn("systemd notifications disabled", "error", err)
	}
	defer notifier.Close()
	var tlsConf *tls.Config
	if cfg.tlsCert != "" {
		certs, err := newCertStore(cfg.tlsCert, cfg.tlsKey, log)
		if err != nil {
			log.Error("cannot load the TLS certificate", "error", err)
			return exitError
		}
		tlsConf = certs.tlsConfig()
	}
	// Before New, which copies the environment for the workers: socket
	// activation unsets LISTEN_* so that they do not inherit them.
	ln, err := openListener(cfg.listen, cfg.listenGiven, log)
	if err != nil {
		log.Error("cannot listen", "addr", cfg.listen, "error", err)
		return exitError
	}
	fl, err := joinFleet(&cfg.fleet, ln.Addr(), log)
	if err != nil {
		ln.Close()
		log.Error("cannot join the fleet", "error", err)
		return exitError
	}
	if fl != nil {
		defer fl.Close()
	}
	relay := hub.NewServer(hub.Options{Logger: log.Named("hub"), Metrics: hubMetrics})
	defer relay.Close()
	if cfg.redisURL != "" {
		stopRooms, err := joinRedisRooms(relay, cfg, metrics, log)
		if err != nil {
			ln.Close()
			fmt.Fprintf(stderr, "stickyd: %v\n", err)
			return exitUsage
		}
		defer stopRooms()
	}
	s, err := primary.New(primary.Options{
		Hub:                relay,
		Argv:               cfg.argv,
		Env:                workerEnv(os.Environ(), cfg.workerProcs, cfg.workers, runtime.GOMAXPROCS(0)),
		Workers:            cfg.workers,
		Balance:            cfg.balance,
		PeekTimeout:        cfg.peekTimeout,
		MaxPeeking:         cfg.maxPeeking,
		StartTimeout:       cfg.startTimeout,
		ShutdownTimeout:    cfg.shutdownTimeout,
		ReloadDrainTimeout: cfg.ops.reloadDrainTimeout,
		MaxGenerations:     cfg.ops.maxGenerations,
		Notifier:           notifier,
		Logger:             log,
		Metrics:            metrics,
		ClientAddr:         cfg.clientAddr,
		TrustedProxies:     cfg.trustedProxies,
		TLS:                tlsConf,
		WorkerKind:         cfg.workerKind,
		NodeSerialization:  cfg.nodeSerial,
		NodeAckTimeout:     cfg.nodeAckTimeout,
		SIDWait:            cfg.sidWait,
		NodeSIDs:           cfg.nodeSIDs,
		Fleet:              fl,
	})
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "stickyd: %v\n", err)
		return exitUsage
	}
	if metrics != nil {
		stopMetrics, err := serveMetrics(cfg.metrics, metrics, log)
		if err != nil {
			ln.Close()
			log.Error("cannot serve metrics", "error", err)
			return exitError
		}
		defer stopMetrics()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o, control, err := startOps(s, cfg.ops.control, cancel, log)
	if err != nil {
		ln.Close()
		log.Error("cannot open the operator socket", "error", err)
		return exitError
	}
	defer o.Close()
	log.Info("starting", "workers", cfg.workers, "balance", cfg.balance, "app", cfg.argv[0], "control", control, "https", cfg.tlsCert != "")
	if err := s.Run(ctx, ln); err != nil {
		log.Error("stopped", "error", err)
		return exitError
	}
	return exitOK
}

// parsePrefix accepts a CIDR or a single address.
func parsePrefix(v string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not a CIDR or address: %q", v)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// workerEnv is env for the workers, with GOMAXPROCS added unless env has
// it or procs is -1: procs itself when positive, else cpus shared out
// (cpus / workers, at least 1). N Go workers on C CPUs would otherwise run
// N*C schedulers that compete for the same C cores (idle threads spinning,
// more context switches); like Node's single-threaded workers, each gets
// its share. A non-Go app ignores the variable.
func workerEnv(env []string, procs, workers, cpus int) []string {
	if procs < 0 {
		return env
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			return env
		}
	}
	if procs == 0 {
		procs = max(1, cpus/workers)
	}
	return append(append([]string(nil), env...), "GOMAXPROCS="+strconv.Itoa(procs))
}
