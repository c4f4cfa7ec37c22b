package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/crypto/bcrypt"

	"github.com/stickyd/stickyd/socketio"
)

// BasicAuth is the login the UI must give: Username and a password whose
// bcrypt hash is PasswordHash (e.g. from bcrypt.GenerateFromPassword or
// the htpasswd/bcryptjs hashes the Node package takes).
type BasicAuth struct {
	Username     string
	PasswordHash string
}

// credentials is the auth object the UI sends with CONNECT.
type credentials struct {
	Username  string `json:"username"`
	Password  string `json:"password"`
	SessionID string `json:"sessionId"`
}

// loginData is the admin socket's data after a password login: the
// session id to hand to the UI once connected.
type loginData struct {
	Session string `json:"-"`
}

// authenticator checks logins and issues and checks session ids.
type authenticator struct {
	auth   BasicAuth
	ttl    time.Duration
	now    func() time.Time
	logger hclog.Logger
}

func newAuthenticator(auth BasicAuth, ttl time.Duration, logger hclog.Logger) (*authenticator, error) {
	if _, err := bcrypt.Cost([]byte(auth.PasswordHash)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPasswordHash, err)
	}
	return &authenticator{auth: auth, ttl: ttl, now: time.Now, logger: logger}, nil
}

// middleware admits a socket with a valid session id, or with the right
// username and password (then its data carries a new session id); others
// get ErrInvalidCredentials' message, and a warning is logged with the
// username given (never the password).
func (a *authenticator) middleware(s *socketio.Socket) error {
	var c credentials
	_ = json.Unmarshal(s.Auth(), &c) // bad auth: no credentials
	if c.SessionID != "" && a.validSession(c.SessionID) {
		return nil
	}
	if c.Username != "" && subtle.ConstantTimeCompare([]byte(c.Username), []byte(a.auth.Username)) == 1 &&
		bcrypt.CompareHashAndPassword([]byte(a.auth.PasswordHash), []byte(c.Password)) == nil {
		s.SetData(loginData{Session: a.newSession()})
		return nil
	}
	a.logger.Warn("admin login refused", "username", c.Username, "session_id", c.SessionID != "", "address", s.Handshake().Address)
	return &socketio.ConnectError{Message: ErrInvalidCredentials.Error()}
}

// newSession returns "expiry.nonce.mac": the expiry in Unix seconds, 16
// random bytes and the HMAC-SHA256 of both keyed by the password hash.
func (a *authenticator) newSession() string {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+)
	body := strconv.FormatInt(a.now().Add(a.ttl).Unix(), 10) + "." + hex.EncodeToString(nonce)
	return body + "." + a.mac(body)
}

// validSession reports whether id was issued by a server with the same
// BasicAuth and has not expired.
func (a *authenticator) validSession(id string) bool {
	cut := strings.LastIndexByte(id, '.')
	if cut < 0 {
		return false
	}
	body, mac := id[:cut], id[cut+1:]
	if !hmac.Equal([]byte(mac), []byte(a.mac(body))) {
		return false
	}
	expiry, _, _ := strings.Cut(body, ".")
	unix, err := strconv.ParseInt(expiry, 10, 64)
	return err == nil && a.now().Unix() < unix
}

func (a *authenticator) mac(body string) string {
	h := hmac.New(sha256.New, []byte(a.auth.Username+"\x00"+a.auth.PasswordHash))
	h.Write([]byte(body))
	return hex.EncodeToString(h.Sum(nil))
}
