package fleet

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/redis/go-redis/v9"
)

// Defaults for the zero values of Options.
const (
	DefaultLeaseTTL     = 10 * time.Second
	DefaultPollInterval = time.Second
	DefaultPrefix       = "stickyd:"
	// MinSecretLen is the shortest fleet secret Join accepts.
	MinSecretLen = 16
)

// ErrHostIDTaken is returned by Join when another live host holds the id.
var ErrHostIDTaken = errors.New("fleet: host id held by another host")

// ErrConfig is returned (wrapped) by Join for options that cannot form a fleet.
var ErrConfig = errors.New("fleet: bad configuration")

// Options configure Join.
type Options struct {
	// HostID pins this host's id (1..65535); 0 claims a random free one
	// (Redis only).
	HostID uint16
	// Advertise is the HOST:PORT other hosts reach this one at (required).
	Advertise string
	// Secret is the fleet's shared secret (at least MinSecretLen bytes).
	Secret []byte
	// Peers, when not nil, is a static fleet: the other hosts by id.
	Peers map[uint16]string
	// RedisURL is the fleet's Redis (redis://...), when Peers is nil.
	RedisURL string
	// Prefix starts every Redis key ("" is DefaultPrefix).
	Prefix string
	// LeaseTTL and PollInterval: see the package doc.
	LeaseTTL, PollInterval time.Duration
	// Logger; nil discards.
	Logger hclog.Logger
}

// Member is one host of the fleet.
type Member struct {
	ID   uint16 `json:"id"`
	Addr string `json:"addr"`
	Self bool   `json:"self,omitempty"`
}

// Fleet is this host's view of the fleet. Create it with Join.
type Fleet struct {
	opts    Options
	log     hclog.Logger
	self    uint16
	record  string // our Redis record (Redis only)
	key     string // our Redis key (Redis only)
	client  *redis.Client
	members atomic.Pointer[map[uint16]string] // others, by id

	refreshMu   sync.Mutex // serialises refreshes on a miss; guards lastRefresh
	lastRefresh time.Time

	mu      sync.Mutex // guards running and the start of loop
	running bool
	stop    chan struct{}
	done    chan struct{}
}

// Join forms this host's view of the fleet: a static one from
// Options.Peers, or with Redis it claims the host id (see the package
// doc) and starts renewing it and polling the others. It fails with
// ErrConfig for missing options and ErrHostIDTaken for a pinned id
// another host holds.
func Join(ctx context.Context, opts Options) (*Fleet, error) {
	if err := checkOptions(&opts); err != nil {
		return nil, err
	}
	f := &Fleet{opts: opts, log: opts.Logger, self: opts.HostID, stop: make(chan struct{}), done: make(chan struct{})}
	f.members.Store(&map[uint16]string{})
	if opts.Peers != nil {
		peers := make(map[uint16]string, len(opts.Peers))
		for id, addr := range opts.Peers {
			if id != opts.HostID {
				peers[id] = addr
			}
		}
		f.members.Store(&peers)
		close(f.done)
		return f, nil
	}
	ropts, err := redis.ParseURL(opts.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("%w: redis URL: %w", ErrConfig, err)
	}
	f.client = redis.NewClient(ropts)
	if err := f.claim(ctx); err != nil {
		f.client.Close()
		return nil, err
	}
	f.poll(ctx)
	f.mu.Lock()
	f.running = true
	go f.loop()
	f.mu.Unlock()
	return f, nil
}

// checkOptions fills defaults and validates opts.
func checkOptions(opts *Options) error {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if len(opts.Secret) < MinSecretLen {
		return fmt.Errorf("%w: the fleet secret must be at least %d bytes", ErrConfig, MinSecretLen)
	}
	if _, _, err := net.SplitHostPort(opts.Advertise); err != nil {
		return fmt.Errorf("%w: advertise address %q: %w", ErrConfig, opts.Advertise, err)
	}
	if opts.Peers != nil && opts.HostID == 0 {
		return fmt.Errorf("%w: a static fleet (peers) needs a pinned host id", ErrConfig)
	}
	if opts.Peers == nil && opts.RedisURL == "" {
		return fmt.Errorf("%w: a fleet needs Redis or static peers", ErrConfig)
	}
	return nil
}

// Self returns this host's id.
func (f *Fleet) Self() uint16 { return f.self }

// Addr returns the address of live member id (not this host).
func (f *Fleet) Addr(id uint16) (string, bool) {
	addr, ok := (*f.members.Load())[id]
	return addr, ok
}

// Lookup is Addr, but on a miss it reads the records from Redis again
// first (at most every MinRefreshInterval): a host that joined since the
// last poll is found at once. It may block for a Redis round trip.
func (f *Fleet) Lookup(id uint16) (string, bool) {
	if addr, ok := f.Addr(id); ok || id == f.self {
		return addr, ok
	}
	f.refresh()
	return f.Addr(id)
}

// IsMember reports whether id is this host or a live member, reading
// the records again on a miss as Lookup does.
func (f *Fleet) IsMember(id uint16) bool {
	_, ok := f.Lookup(id)
	return ok || id == f.self
}

// MinRefreshInterval bounds how often a miss makes Lookup read Redis.
const MinRefreshInterval = 100 * time.Millisecond

// refresh polls the records now unless a refresh ran within
// MinRefreshInterval (Redis only).
func (f *Fleet) refresh() {
	if f.client == nil {
		return
	}
	f.refreshMu.Lock()
	defer f.refreshMu.Unlock()
	if time.Since(f.lastRefresh) < MinRefreshInterval {
		return
	}
	f.lastRefresh = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	f.poll(ctx)
}

// Members returns the fleet's hosts, this one included, by id.
func (f *Fleet) Members() []Member {
	others := *f.members.Load()
	out := make([]Member, 0, len(others)+1)
	out = append(out, Member{ID: f.self, Addr: f.opts.Advertise, Self: true})
	for id, addr := range others {
		out = append(out, Member{ID: id, Addr: addr})
	}
	slices.SortFunc(out, func(a, b Member) int { return int(a.ID) - int(b.ID) })
	return out
}

// Close stops renewing and polling and, with Redis, deletes this host's
// record if it still holds it, so the others see it gone at once.
func (f *Fleet) Close() error {
	f.mu.Lock()
	wasRunning := f.running
	f.running = false
	f.mu.Unlock()
	if !wasRunning {
		return nil
	}
	close(f.stop)
	<-f.done
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := releaseScript.Run(ctx, f.client, []string{f.key}, f.record).Err()
	if cerr := f.client.Close(); err == nil {
		err = cerr
	}
	return err
}

// recordMAC returns the hex HMAC of a member record for id at addr.
func recordMAC(secret []byte, id uint16, addr string) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "stickyd-fleet-member\x00%d\x00%s", id, addr)
	return hex.EncodeToString(m.Sum(nil))
}

// parseRecord checks a member record and returns its address.
func parseRecord(secret []byte, id uint16, rec string) (string, bool) {
	addr, mac, ok := strings.Cut(rec, " ")
	if !ok || !hmac.Equal([]byte(mac), []byte(recordMAC(secret, id, addr))) {
		return "", false
	}
	return addr, true
}

// hostKey is the Redis key of host id's record.
func (f *Fleet) hostKey(id uint16) string {
	return f.opts.Prefix + "fleet:host:" + strconv.Itoa(int(id))
}

// randomID returns a random host id in 1..65535.
func randomID() uint16 {
	var b [2]byte
	for {
		rand.Read(b[:])
		if id := binary.BigEndian.Uint16(b[:]); id != 0 {
			return id
		}
	}
}
