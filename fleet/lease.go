package fleet

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// claimAttempts bounds the random ids Join tries when none is pinned.
const claimAttempts = 32

// renewScript extends our lease if we hold it, re-claims the id if it is
// free: 1 renewed, 2 re-claimed, 0 held by another host.
var renewScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0`)

// releaseScript deletes our record if we still hold it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// claim takes the pinned host id, or a random free one, with SET NX.
func (f *Fleet) claim(ctx context.Context) error {
	ttl := f.opts.LeaseTTL
	for range claimAttempts {
		id := f.opts.HostID
		if id == 0 {
			id = randomID()
		}
		key := f.hostKey(id)
		record := f.opts.Advertise + " " + recordMAC(f.opts.Secret, id, f.opts.Advertise)
		ok, err := f.client.SetNX(ctx, key, record, ttl).Result()
		if err != nil {
			return fmt.Errorf("fleet: claiming host id %d in Redis: %w", id, err)
		}
		if ok {
			f.self, f.key, f.record = id, key, record
			f.log.Info("joined the fleet", "host_id", id, "advertise", f.opts.Advertise)
			return nil
		}
		if f.opts.HostID != 0 {
			holder, _ := f.client.Get(ctx, key).Result()
			addr, _, _ := strings.Cut(holder, " ")
			return fmt.Errorf("%w: host id %d is held by %s (lease %s)", ErrHostIDTaken, id, addr, ttl)
		}
	}
	return fmt.Errorf("%w: no free host id after %d random tries", ErrHostIDTaken, claimAttempts)
}

// loop renews the lease every third of LeaseTTL and polls the members
// every PollInterval until Close.
func (f *Fleet) loop() {
	defer close(f.done)
	poll := time.NewTicker(f.opts.PollInterval)
	defer poll.Stop()
	renew := time.NewTicker(f.opts.LeaseTTL / 3)
	defer renew.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-renew.C:
			f.renew()
		case <-poll.C:
			ctx, cancel := context.WithTimeout(context.Background(), f.opts.PollInterval)
			f.poll(ctx)
			cancel()
		}
	}
}

// renew extends the lease; losing it to another host is logged as an
// error (two hosts would then issue sids naming the same id).
func (f *Fleet) renew() {
	ctx, cancel := context.WithTimeout(context.Background(), f.opts.LeaseTTL/3)
	defer cancel()
	n, err := renewScript.Run(ctx, f.client, []string{f.key}, f.record, f.opts.LeaseTTL.Milliseconds()).Int()
	switch {
	case err != nil:
		f.log.Warn("cannot renew the host id lease; keeping the last fleet view", "host_id", f.self, "error", err)
	case n == 2:
		f.log.Warn("host id lease had expired; re-claimed it", "host_id", f.self)
	case n == 0:
		f.log.Error("host id lease lost to another host", "host_id", f.self)
	}
}

// poll reads every member record and replaces the view; on a Redis error
// the last view is kept.
func (f *Fleet) poll(ctx context.Context) {
	pattern := f.opts.Prefix + "fleet:host:*"
	var keys []string
	iter := f.client.Scan(ctx, 0, pattern, 256).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		f.log.Debug("cannot poll the fleet; keeping the last view", "error", err)
		return
	}
	view := make(map[uint16]string, len(keys))
	if len(keys) > 0 {
		vals, err := f.client.MGet(ctx, keys...).Result()
		if err != nil {
			f.log.Debug("cannot poll the fleet; keeping the last view", "error", err)
			return
		}
		for i, k := range keys {
			f.addRecord(view, k, vals[i])
		}
	}
	f.members.Store(&view)
}

// addRecord adds the member whose record val is at key to view, when its
// MAC checks out.
func (f *Fleet) addRecord(view map[uint16]string, key string, val any) {
	rec, ok := val.(string)
	n, err := strconv.ParseUint(strings.TrimPrefix(key, f.opts.Prefix+"fleet:host:"), 10, 16)
	if !ok || err != nil || n == 0 || uint16(n) == f.self {
		return
	}
	addr, ok := parseRecord(f.opts.Secret, uint16(n), rec)
	if !ok {
		f.log.Debug("ignoring a fleet record without a valid MAC", "key", key)
		return
	}
	view[uint16(n)] = addr
}
