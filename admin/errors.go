package admin

import "errors"

var (
	// ErrBadPasswordHash is returned by Instrument when BasicAuth's
	// PasswordHash is not a bcrypt hash.
	ErrBadPasswordHash = errors.New("admin: the password hash is not a bcrypt hash")
	// ErrBadNamespace is returned by Instrument when a namespace name does
	// not start with "/" or the admin namespace is also instrumented.
	ErrBadNamespace = errors.New("admin: bad namespace name")
	// ErrInvalidCredentials is the connect error a UI gets for a wrong
	// username, password or session id (its message is the one the UI
	// recognises).
	ErrInvalidCredentials = errors.New("invalid credentials")
)
