package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/stickyd/stickyd/adapter"
	"github.com/stickyd/stickyd/redisadapter"
	"github.com/stickyd/stickyd/socketio"
)

// fleet is the refapp's membership of a Redis fleet (REDIS_URL); a nil
// *fleet is no fleet, and its methods do nothing.
//
// With REDIS_URL set, the process is one Redis peer, like one Node server
// with @socket.io/redis-adapter (REDIS_KEY changes the key prefix, default
// "socket.io"), standalone or as a stickyd worker: under stickyd each
// worker is then its own peer and the hub carries no room traffic (the
// host-level design, where the primary is the host's one peer, is
// docs/architecture.md "Fleet (Redis)").
type fleet struct{ peer *redisadapter.Peer }

// redisFleet installs the Redis adapter when REDIS_URL is set.
func redisFleet(opts *socketio.Options, logger hclog.Logger) (*fleet, error) {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		return nil, nil
	}
	peer, err := redisadapter.New(redisadapter.Options{URL: url, Prefix: os.Getenv("REDIS_KEY"), Logger: logger.Named("redis")})
	if err != nil {
		return nil, fmt.Errorf("refapp: REDIS_URL: %w", err)
	}
	opts.Adapter = peer.Adapter
	return &fleet{peer: peer}, nil
}

// sync waits (up to 15 s) until every namespace's subscriptions are in
// place, so that the app reports ready only once it hears the fleet.
func (f *fleet) sync() error {
	if f == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := f.peer.Sync(ctx); err != nil {
		return fmt.Errorf("refapp: redis not ready: %w", err)
	}
	return nil
}

func (f *fleet) close() {
	if f != nil {
		_ = f.peer.Close()
	}
}

// fleetRooms lists the rooms of nsp across the Redis fleet or the stickyd
// cluster, whichever adapter is installed.
func fleetRooms(ctx context.Context, nsp *socketio.Namespace) ([]string, error) {
	if _, ok := nsp.Adapter().(*redisadapter.Adapter); ok {
		return redisadapter.Rooms(ctx, nsp)
	}
	return adapter.Rooms(ctx, nsp)
}
