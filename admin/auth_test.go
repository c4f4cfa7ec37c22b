package admin

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/crypto/bcrypt"
)

func hashOf(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// A session id issued by one server is accepted by another with the same
// login (a worker of the same app), refused once expired, tampered with,
// or issued under another password or username.
func TestSessionIDs(t *testing.T) {
	hash := hashOf(t, "secret")
	issuer, err := newAuthenticator(BasicAuth{Username: "admin", PasswordHash: hash}, time.Hour, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	peer, _ := newAuthenticator(BasicAuth{Username: "admin", PasswordHash: hash}, time.Hour, hclog.NewNullLogger())
	other, _ := newAuthenticator(BasicAuth{Username: "admin", PasswordHash: hashOf(t, "secret")}, time.Hour, hclog.NewNullLogger())
	otherUser, _ := newAuthenticator(BasicAuth{Username: "root", PasswordHash: hash}, time.Hour, hclog.NewNullLogger())

	id := issuer.newSession()
	if !peer.validSession(id) {
		t.Fatalf("a peer with the same login refuses %q", id)
	}
	if other.validSession(id) || otherUser.validSession(id) {
		t.Fatal("a session id is accepted under another password hash or username")
	}
	if issuer.newSession() == id {
		t.Fatal("two logins got the same session id")
	}
	expiry, rest, _ := strings.Cut(id, ".")
	bad := []string{
		"", ".", "x", "1.2.3", id + "0", "9" + id, expiry + "0." + rest,
		strings.Replace(id, ".", "", 1),
	}
	for _, b := range bad {
		if peer.validSession(b) {
			t.Errorf("tampered session id %q accepted", b)
		}
	}
	later := time.Now().Add(2 * time.Hour)
	peer.now = func() time.Time { return later }
	if peer.validSession(id) {
		t.Fatal("an expired session id accepted")
	}
}

// Bad input: a password hash that is not bcrypt is refused at Instrument.
func TestBadPasswordHash(t *testing.T) {
	for _, h := range []string{"", "secret", "$2a$10$short"} {
		if _, err := newAuthenticator(BasicAuth{Username: "a", PasswordHash: h}, time.Hour, hclog.NewNullLogger()); !errors.Is(err, ErrBadPasswordHash) {
			t.Errorf("hash %q: %v, want ErrBadPasswordHash", h, err)
		}
	}
}
