package fleet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stickyd/stickyd/internal/redistest"
	"github.com/stickyd/stickyd/internal/testutil"
)

func join(t *testing.T, url string, id uint16, addr string) (*Fleet, error) {
	t.Helper()
	f, err := Join(context.Background(), Options{HostID: id, Advertise: addr, Secret: testSecret, RedisURL: url,
		LeaseTTL: 900 * time.Millisecond, PollInterval: 50 * time.Millisecond})
	if err == nil {
		t.Cleanup(func() { f.Close() })
	}
	return f, err
}

func sees(f *Fleet, id uint16, addr string) func() bool {
	return func() bool { got, ok := f.Addr(id); return ok && got == addr }
}

// TestAnyHostFleetRedis: hosts see each other come and go; a pinned id
// already held is ErrHostIDTaken; a closed host is gone at once, a killed
// one (no renewal) after its lease; a record without the secret's MAC is
// ignored.
func TestAnyHostFleetRedis(t *testing.T) {
	testutil.CheckNoLeaks(t)
	srv := redistest.Start(t)
	a, err := join(t, srv.URL, 0, "127.0.0.1:1001")
	if err != nil || a.Self() == 0 {
		t.Fatalf("join a: %v id %d", err, a.Self())
	}
	b, err := join(t, srv.URL, 2000, "127.0.0.1:1002")
	if err != nil || b.Self() == 2000 && a.Self() == 2000 {
		t.Fatalf("join b: %v", err)
	}
	checkFor(t, sees(a, 2000, "127.0.0.1:1002"))
	checkFor(t, sees(b, a.Self(), "127.0.0.1:1001"))
	if _, err := join(t, srv.URL, 2000, "127.0.0.1:1003"); !errors.Is(err, ErrHostIDTaken) {
		t.Fatalf("collision: err = %v, want ErrHostIDTaken", err)
	}
	if m := a.Members(); len(m) != 2 || !(m[0].Self || m[1].Self) {
		t.Fatalf("members %+v", m)
	}
	// A forged record (no valid MAC) is not a member.
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rc.Close()
	rc.Set(context.Background(), DefaultPrefix+"fleet:host:3000", "127.0.0.1:6666 deadbeef", 0)
	b.Close()
	checkFor(t, func() bool { _, ok := a.Addr(2000); return !ok })
	if _, ok := a.Addr(3000); ok {
		t.Fatal("a forged record became a member")
	}
	// A host that stops renewing (its loop stopped without releasing)
	// disappears within its lease.
	c, err := join(t, srv.URL, 4000, "127.0.0.1:1004")
	if err != nil {
		t.Fatal(err)
	}
	checkFor(t, sees(a, 4000, "127.0.0.1:1004"))
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
	close(c.stop)
	<-c.done
	c.client.Close()
	checkFor(t, func() bool { _, ok := a.Addr(4000); return !ok })
}

// TestAnyHostFleetStatic: a static fleet knows its peers; bad options
// get ErrConfig.
func TestAnyHostFleetStatic(t *testing.T) {
	f, err := Join(context.Background(), Options{HostID: 1, Advertise: "127.0.0.1:1", Secret: testSecret, Peers: map[uint16]string{1: "127.0.0.1:1", 2: "127.0.0.1:2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if addr, ok := f.Addr(2); !ok || addr != "127.0.0.1:2" || !f.IsMember(1) || f.IsMember(3) || len(f.Members()) != 2 {
		t.Fatalf("static fleet: %v %v %+v", addr, ok, f.Members())
	}
	for name, o := range map[string]Options{
		"short secret": {HostID: 1, Advertise: "127.0.0.1:1", Secret: []byte("x"), Peers: map[uint16]string{}},
		"no advertise": {HostID: 1, Secret: testSecret, Peers: map[uint16]string{}},
		"static no id": {Advertise: "127.0.0.1:1", Secret: testSecret, Peers: map[uint16]string{}},
		"nothing":      {HostID: 1, Advertise: "127.0.0.1:1", Secret: testSecret},
	} {
		if _, err := Join(context.Background(), o); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
}

// checkFor polls cond every 10 ms for 5 s.
func checkFor(t *testing.T, cond func() bool) {
	t.Helper()
	testutil.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if !cond() {
			return errors.New("not yet")
		}
		return nil
	})
}

// TestAnyHostFleetLookupRefreshes: a host that joined after the last poll
// is found by Lookup at once (it reads Redis on a miss), not a poll later.
func TestAnyHostFleetLookupRefreshes(t *testing.T) {
	testutil.CheckNoLeaks(t)
	srv := redistest.Start(t)
	a, err := Join(context.Background(), Options{HostID: 1, Advertise: "127.0.0.1:1001", Secret: testSecret, RedisURL: srv.URL, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := join(t, srv.URL, 2, "127.0.0.1:1002")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Addr(b.Self()); ok {
		t.Fatal("a saw b before any poll: the test proves nothing")
	}
	if addr, ok := a.Lookup(b.Self()); !ok || addr != "127.0.0.1:1002" {
		t.Fatalf("Lookup of a new host: %q %v", addr, ok)
	}
	if !a.IsMember(2) || a.IsMember(3) {
		t.Fatal("IsMember")
	}
}
