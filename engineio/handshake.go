package engineio

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// handshake is what a session keeps of its handshake request: the request
// URI, Host, remote address and headers packed in one string, the method
// and protocol version, and the TLS state net/http shares among a
// connection's requests. It replaces the *http.Request (its context,
// parsed URL and query, header map: about 1.7 KB per session), which is
// rebuilt on demand (Socket.Request).
//
// text is uri + host + remoteAddr + the header block, whose lines are
// "Key:value\n" (one per value, net/http's canonical keys, values never
// hold '\n').
type handshake struct {
	text    string
	uriEnd  uint32
	hostEnd uint32
	addrEnd uint32
	major   uint8 // HTTP version
	minor   uint8
	method  string // a constant for GET and POST
	tls     *tls.ConnectionState
}

// newHandshake packs r in one allocation.
func newHandshake(r *http.Request) handshake {
	uri := r.RequestURI
	if uri == "" && r.URL != nil {
		uri = r.URL.RequestURI()
	}
	n := len(uri) + len(r.Host) + len(r.RemoteAddr)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 2
		}
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(uri)
	b.WriteString(r.Host)
	b.WriteString(r.RemoteAddr)
	for k, vs := range r.Header {
		for _, v := range vs {
			b.WriteString(k)
			b.WriteByte(':')
			b.WriteString(strings.ReplaceAll(v, "\n", " "))
			b.WriteByte('\n')
		}
	}
	h := handshake{
		text:    b.String(),
		uriEnd:  uint32(len(uri)),
		hostEnd: uint32(len(uri) + len(r.Host)),
		addrEnd: uint32(len(uri) + len(r.Host) + len(r.RemoteAddr)),
		major:   uint8(r.ProtoMajor),
		minor:   uint8(r.ProtoMinor),
		tls:     r.TLS,
	}
	switch r.Method {
	case http.MethodGet, "":
		h.method = http.MethodGet
	case http.MethodPost:
		h.method = http.MethodPost
	default:
		h.method = strings.Clone(r.Method)
	}
	return h
}

func (h *handshake) uri() string        { return h.text[:h.uriEnd] }
func (h *handshake) host() string       { return h.text[h.uriEnd:h.hostEnd] }
func (h *handshake) remoteAddr() string { return h.text[h.hostEnd:h.addrEnd] }

// header returns a new map of the headers.
func (h *handshake) header() http.Header {
	block := h.text[h.addrEnd:]
	hdr := make(http.Header, strings.Count(block, "\n"))
	for line := range strings.SplitSeq(block, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			hdr[k] = append(hdr[k], v)
		}
	}
	return hdr
}

// headerValue returns the first value of key (canonical form), as
// http.Header.Get, without building the map.
func (h *handshake) headerValue(key string) string {
	for line := range strings.SplitSeq(h.text[h.addrEnd:], "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == key {
			return v
		}
	}
	return ""
}

// request rebuilds the request: a new value on each call.
func (h *handshake) request() *http.Request {
	u, err := url.ParseRequestURI(h.uri())
	if err != nil {
		u = &url.URL{Path: h.uri()}
	}
	return &http.Request{
		Method:     h.method,
		URL:        u,
		Proto:      "HTTP/" + strconv.Itoa(int(h.major)) + "." + strconv.Itoa(int(h.minor)),
		ProtoMajor: int(h.major),
		ProtoMinor: int(h.minor),
		Header:     h.header(),
		Body:       http.NoBody,
		Host:       h.host(),
		RemoteAddr: h.remoteAddr(),
		RequestURI: h.uri(),
		TLS:        h.tls,
	}
}
