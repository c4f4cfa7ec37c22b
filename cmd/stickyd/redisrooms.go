package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/redis/go-redis/v9"

	"github.com/stickyd/stickyd/hub"
	"github.com/stickyd/stickyd/primary"
	"github.com/stickyd/stickyd/redisadapter"
)

// validateRedisRooms checks --redis and --redis-prefix.
func validateRedisRooms(cfg *config) error {
	if cfg.redisPrefix == "" {
		return errors.New("--redis-prefix must not be empty")
	}
	if cfg.redisURL == "" {
		return nil
	}
	if _, err := redis.ParseURL(cfg.redisURL); err != nil {
		return fmt.Errorf("--redis: want redis://[user:pass@]host:port[/db] or rediss://…: %w", err)
	}
	return nil
}

// joinRedisRooms makes relay this host's peer of the Redis fleet at
// cfg.redisURL: a redisadapter.Peer (connecting in the background: Redis
// being down is not an error) driven by a hub.RedisBridge. Its metrics
// (stickyd_redis_*) go on metrics' registry when metrics is not nil. stop
// closes the bridge, then the peer.
func joinRedisRooms(relay *hub.Server, cfg *config, metrics *primary.Metrics, log hclog.Logger) (stop func(), err error) {
	// go-redis logs each failed dial on its own (process-wide) logger: at
	// debug level here, the peer logs each state change once.
	redis.SetLogger(redisLog{log.Named("redis")})
	peer, err := redisadapter.New(redisadapter.Options{URL: cfg.redisURL, Prefix: cfg.redisPrefix, Logger: log.Named("redis")})
	if err != nil {
		return nil, fmt.Errorf("--redis: %w", err)
	}
	bridge, err := hub.NewRedisBridge(relay, peer, hub.BridgeOptions{Logger: log.Named("fleet")})
	if err != nil {
		peer.Close()
		return nil, fmt.Errorf("--redis: %w", err)
	}
	if metrics != nil {
		if err := metrics.Registry().Register(peer.Collector("stickyd")); err != nil {
			bridge.Close()
			peer.Close()
			return nil, fmt.Errorf("--redis: metrics: %w", err)
		}
	}
	log.Info("joining the redis fleet", "prefix", cfg.redisPrefix, "uid", peer.UID())
	return func() {
		bridge.Close()
		peer.Close()
	}, nil
}

// redisLog sends go-redis's own messages to hclog at debug level.
type redisLog struct{ log hclog.Logger }

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
}
