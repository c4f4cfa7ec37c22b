package engineio

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Transport names.
const (
	TransportPolling   = "polling"
	TransportWebSocket = "websocket"
)

// Options configure a Server. The zero value is usable: every unset field
// takes the default of Node's engine.io 6.
type Options struct {
	// Path is the request path served; default "/engine.io/". A trailing
	// "/" is added when missing.
	Path string
	// Transports enabled; default {"polling", "websocket"}.
	Transports []string
	// DisableUpgrades is Node's allowUpgrades=false: the handshake
	// advertises no upgrades and upgrade requests are refused.
	DisableUpgrades bool
	// PingInterval between server pings; default 25s. From 5s on, pings
	// and pong deadlines fall due on a grid of PingInterval/250 (at most
	// 100 ms), so that idle sessions' heartbeats batch: each is up to that
	// late, never early.
	PingInterval time.Duration
	// PingTimeout is how long to wait for a pong; default 20s.
	PingTimeout time.Duration
	// UpgradeTimeout bounds an unfinished polling->websocket upgrade;
	// default 10s. Past it the probing websocket is closed and the session
	// stays on polling.
	UpgradeTimeout time.Duration
	// MaxHTTPBufferSize bounds a POST body and a websocket message; default
	// 1e6 bytes. A POST over it gets 413 and closes the session ("transport
	// error"); a websocket message over it closes the session ("transport
	// error").
	MaxHTTPBufferSize int64
	// MaxBufferedBytes bounds a session's outgoing queue (bytes of frames
	// queued and not yet handed to the transport); default 16 MiB. A Write
	// that would pass it returns ErrBufferFull and closes the session with
	// reason "transport error".
	MaxBufferedBytes int64
	// CORS adds CORS headers (as Node's cors module) and answers OPTIONS
	// preflights with 204. nil: no CORS headers.
	CORS *CORSOptions
	// AllowRequest vets handshakes (requests without sid). A non-nil error
	// refuses with 403 {"code":4,"message":err.Error()} ("Forbidden" when
	// the error text is empty), as Node sends the callback's message.
	AllowRequest func(r *http.Request) error
	// Cookie sets a cookie holding the sid on the polling handshake
	// response. nil: no cookie.
	Cookie *CookieOptions
	// GenerateID makes session ids; default 15 random bytes as base64url
	// (20 characters). An error refuses the handshake with 400 code 3.
	GenerateID func(r *http.Request) (string, error)
	// OnSessionOpen is called once per session, before OnConnection handlers.
	OnSessionOpen func(sid string)
	// OnSessionClose is called once per session after it closed.
	OnSessionClose func(sid string, reason string)
	// Logger receives debug logs; default hclog.NewNullLogger().
	Logger hclog.Logger
}

// CORSOptions mirror the options of Node's cors module.
type CORSOptions struct {
	// Origin: "*" (any), an exact origin, or "" to reflect the request's
	// Origin header.
	Origin string
	// Methods for preflights; default GET,HEAD,PUT,PATCH,POST,DELETE.
	Methods []string
	// AllowedHeaders for preflights; empty reflects
	// Access-Control-Request-Headers.
	AllowedHeaders []string
	// Credentials adds Access-Control-Allow-Credentials: true.
	Credentials bool
	// MaxAge of preflight results; 0 omits the header.
	MaxAge time.Duration
}

// CookieOptions configure the sid cookie. Fields are used as given (a zero
// HTTPOnly means no HttpOnly attribute).
type CookieOptions struct {
	Name     string // default "io"
	Path     string // default "/"
	HTTPOnly bool
	SameSite http.SameSite // zero: Lax, as Node's default
	Secure   bool
}

func (o Options) withDefaults() Options {
	if o.Path == "" {
		o.Path = "/engine.io/"
	}
	if !strings.HasSuffix(o.Path, "/") {
		o.Path += "/"
	}
	if len(o.Transports) == 0 {
		o.Transports = []string{TransportPolling, TransportWebSocket}
	} else {
		o.Transports = append([]string(nil), o.Transports...)
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 20 * time.Second
	}
	if o.UpgradeTimeout <= 0 {
		o.UpgradeTimeout = 10 * time.Second
	}
	if o.MaxHTTPBufferSize <= 0 {
		o.MaxHTTPBufferSize = 1e6
	}
	if o.MaxBufferedBytes <= 0 {
		o.MaxBufferedBytes = 16 << 20
	}
	if o.Cookie != nil {
		c := *o.Cookie
		if c.Name == "" {
			c.Name = "io"
		}
		if c.Path == "" {
			c.Path = "/"
		}
		if c.SameSite == 0 {
			c.SameSite = http.SameSiteLaxMode
		}
		o.Cookie = &c
	}
	if o.CORS != nil {
		c := *o.CORS
		if len(c.Methods) == 0 {
			c.Methods = []string{"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"}
		}
		o.CORS = &c
	}
	if o.GenerateID == nil {
		o.GenerateID = defaultID
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	return o
}

// defaultID returns 15 random bytes as base64url (20 characters), as Node's
// base64id.
func defaultID(*http.Request) (string, error) {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func (o *Options) hasTransport(name string) bool {
	for _, t := range o.Transports {
		if t == name {
			return true
		}
	}
	return false
}
