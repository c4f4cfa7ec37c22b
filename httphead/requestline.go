package httphead

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

var (
	// ErrBadRequest is returned by ParseRequestLine for bytes that cannot start an HTTP/1.x request.
	ErrBadRequest = errors.New("httphead: bad request line")
	// ErrLineTooLong is returned by ParseRequestLine when the request line exceeds MaxRequestLine.
	ErrLineTooLong = errors.New("httphead: request line too long")
	// ErrTLS is returned by ParseRequestLine for a TLS ClientHello where a plain request line was due (a client speaking HTTPS to a plain HTTP port).
	ErrTLS = errors.New("httphead: TLS handshake on a plain HTTP port")
	// ErrHTTP2 is returned by ParseRequestLine for the HTTP/2 connection preface.
	ErrHTTP2 = errors.New("httphead: HTTP/2 preface (only HTTP/1.x is routed)")
)

// MaxRequestLine is the longest request line (CRLF included) that
// ParseRequestLine accepts; stickyd answers a longer one 414.
const MaxRequestLine = 8 << 10

// RequestLine is the part of an HTTP/1.x request line stickyd routes by.
type RequestLine struct {
	Method string
	Target string
	// SID is the value of the first "sid" query parameter of Target
	// (decoded as net/url does), or "" if there is none.
	SID string
	// Len is the length of the line in the stream, line ending included.
	Len int
}

// ParseRequestLine parses the request line at the start of b, which holds
// the first bytes of a connection.
//
// It returns complete=false and a nil error when b is a valid prefix of a
// request line that is not finished yet. It returns an error wrapping
// ErrBadRequest when b cannot start an HTTP/1.x request, ErrTLS for a TLS
// ClientHello, ErrHTTP2 for the HTTP/2 connection preface, and
// ErrLineTooLong when no line ending occurs within MaxRequestLine bytes.
// It does not retain b.
func ParseRequestLine(b []byte) (rl RequestLine, complete bool, err error) {
	if len(b) >= 1 && b[0] == 0x16 && (len(b) < 2 || b[1] == 0x03) {
		if len(b) < 2 {
			return rl, false, nil
		}
		return rl, false, ErrTLS
	}
	const h2 = "PRI * HTTP/2.0"
	if n := min(len(b), len(h2)); n >= 3 && string(b[:n]) == h2[:n] {
		if n < len(h2) {
			return rl, false, nil
		}
		return rl, false, ErrHTTP2
	}
	end := bytes.IndexByte(b, '\n')
	if end < 0 {
		if len(b) >= MaxRequestLine {
			return rl, false, ErrLineTooLong
		}
		// Fail early on bytes that can never form a request line.
		if err := checkLinePrefix(b); err != nil {
			return rl, false, err
		}
		return rl, false, nil
	}
	if end+1 > MaxRequestLine {
		return rl, false, ErrLineTooLong
	}
	line := b[:end]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	method, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok || !isToken(method) {
		return rl, false, fmt.Errorf("%w: malformed method", ErrBadRequest)
	}
	target, proto, ok := bytes.Cut(rest, []byte{' '})
	if !ok || len(target) == 0 || !isTarget(target) {
		return rl, false, fmt.Errorf("%w: malformed request target", ErrBadRequest)
	}
	if !isHTTP1(proto) {
		return rl, false, fmt.Errorf("%w: malformed protocol version", ErrBadRequest)
	}
	rl = RequestLine{Method: string(method), Target: string(target), Len: end + 1}
	rl.SID = querySID(rl.Target)
	return rl, true, nil
}

// checkLinePrefix rejects an unfinished line whose bytes so far already
// rule out a request line: a non-token method or control characters.
func checkLinePrefix(b []byte) error {
	method := b
	if sp := bytes.IndexByte(b, ' '); sp >= 0 {
		if sp == 0 {
			return fmt.Errorf("%w: malformed method", ErrBadRequest)
		}
		method = b[:sp]
	}
	if len(method) > 0 && !isToken(method) {
		return fmt.Errorf("%w: malformed method", ErrBadRequest)
	}
	for _, c := range b {
		if c != '\r' && (c < 0x20 || c == 0x7f) {
			return fmt.Errorf("%w: control character in request line", ErrBadRequest)
		}
	}
	return nil
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c >= 0x80 || !tchar[c] {
			return false
		}
	}
	return true
}

var tchar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// isTarget accepts visible ASCII (and obs-text) without spaces.
func isTarget(b []byte) bool {
	for _, c := range b {
		if c <= 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func isHTTP1(p []byte) bool {
	return len(p) == 8 && string(p[:7]) == "HTTP/1." && p[7] >= '0' && p[7] <= '9'
}

// querySID returns the first "sid" parameter of the target's query, decoded
// the way net/url's Query().Get does (pairs that do not decode or contain
// ';' are skipped).
func querySID(target string) string {
	_, q, ok := strings.Cut(target, "?")
	if !ok {
		return ""
	}
	if i := strings.IndexByte(q, '#'); i >= 0 {
		q = q[:i]
	}
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if k != "sid" {
			var err error
			if k, err = url.QueryUnescape(k); err != nil || k != "sid" {
				continue
			}
		}
		v, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		return v
	}
	return ""
}
