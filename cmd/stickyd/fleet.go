package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/fleet"
)

// fleetConfig is the command line of any-host routing (a fleet of hosts
// behind a balancer without stickiness).
type fleetConfig struct {
	secretFile string
	hostID     uint16
	advertise  string
	peers      map[uint16]string
	redis      string // --redis, shared with the room traffic
}

// addFleetFlags adds the fleet's flags to fs.
func addFleetFlags(fs *flag.FlagSet, cfg *fleetConfig) {
	fs.StringVar(&cfg.secretFile, "fleet-secret-file", "", "file holding the fleet's shared secret (at least 16 bytes): makes this host one of a fleet where any host routes any session (sids name their host; requests for another host's sessions are relayed there); needs --redis or --peer")
	fs.Func("host-id", "this host's id in the fleet, 1-65535 (default: a free one claimed in Redis; required with --peer); another live host holding it is an error at start-up", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil || n == 0 {
			return fmt.Errorf("want 1-65535, got %q", v)
		}
		cfg.hostID = uint16(n)
		return nil
	})
	fs.StringVar(&cfg.advertise, "advertise", "", "HOST:PORT other hosts of the fleet reach this one at (default: the listen address, which must then name a host)")
	fs.Func("peer", "ID=HOST:PORT of another host of a static fleet without Redis (repeatable)", func(v string) error {
		id, addr, ok := strings.Cut(v, "=")
		n, err := strconv.ParseUint(id, 10, 16)
		if !ok || err != nil || n == 0 {
			return fmt.Errorf("want ID=HOST:PORT with ID 1-65535, got %q", v)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("peer %q: %w", v, err)
		}
		if cfg.peers == nil {
			cfg.peers = map[uint16]string{}
		}
		cfg.peers[uint16(n)] = addr
		return nil
	})
	if fs.Lookup("redis") == nil {
		fs.StringVar(&cfg.redis, "redis", "", "Redis URL of the fleet (redis://host:port/db)")
	}
}

// validate checks the fleet flags against each other.
func (cfg *fleetConfig) validate(tls bool) error {
	if cfg.secretFile == "" {
		if cfg.hostID != 0 || cfg.advertise != "" || cfg.peers != nil {
			return errors.New("--host-id, --advertise and --peer need --fleet-secret-file")
		}
		return nil
	}
	switch {
	case tls:
		return errors.New("--fleet-secret-file needs a plain listener, not --tls-cert")
	case cfg.peers != nil && cfg.hostID == 0:
		return errors.New("--peer needs --host-id")
	case cfg.peers == nil && cfg.redis == "":
		return errors.New("--fleet-secret-file needs --redis or --peer")
	}
	return nil
}

// joinFleet joins the fleet the flags describe, advertising listen
// unless --advertise says otherwise; nil without --fleet-secret-file.
func joinFleet(cfg *fleetConfig, listen net.Addr, log hclog.Logger) (*fleet.Fleet, error) {
	if cfg.secretFile == "" {
		return nil, nil
	}
	secret, err := os.ReadFile(cfg.secretFile)
	if err != nil {
		return nil, fmt.Errorf("fleet secret: %w", err)
	}
	advertise := cfg.advertise
	if advertise == "" {
		ap, err := netip.ParseAddrPort(listen.String())
		if err != nil || ap.Addr().IsUnspecified() {
			return nil, fmt.Errorf("listening on %s: give --advertise HOST:PORT for the other hosts", listen)
		}
		advertise = ap.String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return fleet.Join(ctx, fleet.Options{
		HostID: cfg.hostID, Advertise: advertise, Secret: bytes.TrimSpace(secret),
		Peers: cfg.peers, RedisURL: cfg.redis, Logger: log.Named("fleet"),
	})
}
