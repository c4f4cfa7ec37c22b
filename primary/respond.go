package primary

import (
	"io"
	"time"
)

// Responses the primary writes itself. Each closes the connection.
const (
	respUnknownSID = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 41\r\nConnection: close\r\n\r\n" +
		`{"code":1,"message":"Session ID unknown"}`
	respBadRequest = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\nConnection: close\r\n\r\nBad Request\n"
	respTooLong    = "HTTP/1.1 414 URI Too Long\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\nConnection: close\r\n\r\nURI Too Long\n"
	respNoWorker   = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\nContent-Length: 20\r\nConnection: close\r\n\r\nno worker available\n"
	respBusy       = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\nContent-Length: 15\r\nConnection: close\r\n\r\nserver is busy\n"
)

// Limits of a graceful close: how long and how much the primary reads and
// discards after its response so that the client sees the response rather
// than a reset caused by unread bytes.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 256 << 10
	writeTime   = 5 * time.Second
)

// halfCloser is a connection the primary can answer and close gracefully:
// a clientConn, or a *tls.Conn on the HTTPS listener.
type halfCloser interface {
	io.ReadWriteCloser
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	CloseWrite() error
}

// respondAndClose writes resp to c, half-closes it, discards what the client
// still sends (bounded by lingerTime and lingerBytes) and closes c.
func respondAndClose(c halfCloser, resp string) {
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(writeTime))
	if _, err := io.WriteString(c, resp); err != nil {
		return
	}
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, c, lingerBytes)
}
