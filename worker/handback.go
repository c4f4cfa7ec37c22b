package worker

import (
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/stickyd/stickyd/ipc"
)

// Handler wraps h with keep-alive hand-back. A request whose first `sid`
// query parameter is a stickyd sid of another instance, arriving on a
// connection the primary handed to this Listener, is not served: the
// connection is hijacked, the request head is re-serialised (request line
// with the original RequestURI, Host, then every header with its values in
// the order received, but the names canonicalised and sorted, since
// net/http keeps no order between names; Content-Length and
// Transfer-Encoding included), the bytes the server had buffered
// and any unread prefix are appended, and the result goes back to the
// primary with the connection's fd in a HandBack message; the primary
// re-routes it. When that prefix exceeds ipc.MaxHandBackPrefix the client
// gets 400 and the connection is closed. Requests without a sid, with a sid
// of this instance or of no stickyd layout, and requests on other
// connections pass through to h. Once the primary has retired this worker
// (a reload made a newer generation current), requests without a sid on a
// kept-alive connection are handed back too, so that new sessions reach the
// new generation and the old worker can drain. Standalone, Handler returns h.
func (l *Listener) Handler(h http.Handler) http.Handler {
	if !l.managed {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := l.foreignConn(r)
		if c == nil {
			h.ServeHTTP(w, r)
			return
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		l.handBackRequest(hj, r, c)
	})
}

// foreignConn returns the Conn r arrived on when r must be handed back:
// its sid names another instance and the Conn is one of ours.
func (l *Listener) foreignConn(r *http.Request) *Conn {
	sid := ""
	if strings.Contains(r.URL.RawQuery, "sid=") {
		sid = r.URL.Query().Get("sid")
	}
	if sid == "" {
		if !l.retired.Load() {
			return nil
		}
	} else if inst, ok := ipc.SIDInstance(sid); !ok || inst == l.env.instance {
		return nil
	}
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(*connAddr)
	if !ok || addr.c.l != l {
		return nil
	}
	return addr.c
}

const tooLargeBody = "request too large to re-route\n"

// tooLargeResponse answers a request whose hand-back prefix is too large.
var tooLargeResponse = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Connection: close\r\nContent-Length: " + strconv.Itoa(len(tooLargeBody)) + "\r\n\r\n" + tooLargeBody

func (l *Listener) handBackRequest(hj http.Hijacker, r *http.Request, c *Conn) {
	nc, brw, err := hj.Hijack()
	if err != nil {
		l.log.Error("hand back: hijack failed", "conn_id", c.id, "error", err)
		return
	}
	if nc != net.Conn(c) {
		// Something (TLS) wraps our Conn: its bytes cannot be re-routed raw.
		l.log.Error("hand back: connection is wrapped, closing", "conn_id", c.id)
		nc.Close()
		return
	}
	prefix := appendRequestHead(make([]byte, 0, 1024), r)
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
	prefix = append(prefix, buffered...)
	prefix = append(prefix, c.takePrefix()...)
	if len(prefix) > ipc.MaxHandBackPrefix {
		l.log.Warn("hand back: request too large, answering 400", "conn_id", c.id, "prefix_bytes", len(prefix))
		c.Write([]byte(tooLargeResponse))
		c.Close()
		return
	}
	l.handBack(c, prefix)
}

// appendRequestHead appends r's request line and headers: Host first, then
// the header names sorted (net/http keeps no order between them), each
// name's values in the order received.
func appendRequestHead(b []byte, r *http.Request) []byte {
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, r.RequestURI...)
	b = append(b, ' ')
	b = append(b, r.Proto...)
	b = append(b, "\r\n"...)
	if r.Host != "" {
		b = appendHeader(b, "Host", r.Host)
	}
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range r.Header[k] {
			b = appendHeader(b, k, v)
		}
	}
	// net/http moves these out of r.Header while parsing.
	if len(r.TransferEncoding) > 0 && r.Header.Get("Transfer-Encoding") == "" {
		b = appendHeader(b, "Transfer-Encoding", strings.Join(r.TransferEncoding, ", "))
	} else if r.ContentLength > 0 && r.Header.Get("Content-Length") == "" {
		b = appendHeader(b, "Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	if len(r.Trailer) > 0 && r.Header.Get("Trailer") == "" {
		names := make([]string, 0, len(r.Trailer))
		for k := range r.Trailer {
			names = append(names, k)
		}
		slices.Sort(names)
		b = appendHeader(b, "Trailer", strings.Join(names, ", "))
	}
	return append(b, "\r\n"...)
}

func appendHeader(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	b = append(b, v...)
	return append(b, "\r\n"...)
}
