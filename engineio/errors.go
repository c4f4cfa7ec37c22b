package engineio

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// Sentinel errors. Errors passed to OnClose callbacks wrap one of these.
var (
	// ErrClosed is returned by Socket methods after the session closed (or
	// began a graceful close).
	ErrClosed = errors.New("engineio: session closed")
	// ErrBufferFull is returned by Write when queuing would exceed
	// Options.MaxBufferedBytes; the session is then closed with reason
	// "transport error".
	ErrBufferFull = errors.New("engineio: send buffer full")
	// ErrBadPacket means a packet or payload from the client could not be
	// decoded; the session closes with reason "parse error".
	ErrBadPacket = errors.New("engineio: malformed packet")
	// ErrPayloadTooLarge means a POST body or websocket message exceeded
	// Options.MaxHTTPBufferSize.
	ErrPayloadTooLarge = errors.New("engineio: payload too large")
	// ErrPollOverlap means a second GET (or POST) arrived while one was
	// pending on the same session.
	ErrPollOverlap = errors.New("engineio: overlapping poll request")
	// ErrBadContent means a POST carried application/octet-stream, which
	// protocol v4 does not use.
	ErrBadContent = errors.New("engineio: invalid content type")
	// ErrPrematureClose means the client went away in the middle of a poll or
	// data request.
	ErrPrematureClose = errors.New("engineio: request closed prematurely")
	// ErrHeartbeatDirection means a v4 client sent a ping.
	ErrHeartbeatDirection = errors.New("engineio: invalid heartbeat direction")
	// ErrServerClosed is returned by Shutdown when called again after the
	// server closed.
	ErrServerClosed = errors.New("engineio: server closed")
)

// Close reasons reported to OnClose, as Node's engine.io names them.
const (
	ReasonTransportClose = "transport close"
	ReasonTransportError = "transport error"
	ReasonPingTimeout    = "ping timeout"
	ReasonParseError     = "parse error"
	ReasonForcedClose    = "forced close"
	ReasonShutdown       = "server shutting down"
)

// Protocol error codes of Node's engine.io (Server.errors), sent in 400/403
// JSON bodies as {"code":N,"message":"..."}.
const (
	CodeUnknownTransport    = 0
	CodeUnknownSID          = 1
	CodeBadHandshakeMethod  = 2
	CodeBadRequest          = 3
	CodeForbidden           = 4
	CodeUnsupportedProtocol = 5
)

var codeMessages = [...]string{
	CodeUnknownTransport:    "Transport unknown",
	CodeUnknownSID:          "Session ID unknown",
	CodeBadHandshakeMethod:  "Bad handshake method",
	CodeBadRequest:          "Bad request",
	CodeForbidden:           "Forbidden",
	CodeUnsupportedProtocol: "Unsupported protocol version",
}

// shutdownMessage is the message of the 503 sent to handshakes after Close
// or Shutdown.
const shutdownMessage = "Server shutting down"

// errorBody renders {"code":code,"message":msg} as JSON.stringify would.
func errorBody(code int, msg string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, msg})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// writeRequestError answers a plain HTTP request as Node's abortRequest:
// 403 for CodeForbidden, else 400, Content-Type application/json. msg
// overrides the code's standard message when non-empty.
func writeRequestError(w http.ResponseWriter, code int, msg string) {
	status := http.StatusBadRequest
	if code == CodeForbidden {
		status = http.StatusForbidden
	}
	if msg == "" {
		msg = codeMessages[code]
	}
	writeJSON(w, status, errorBody(code, msg))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeUpgradeError answers a refused websocket upgrade as Node's
// abortUpgrade: always 400, text/html, the message as body, and the
// connection closed.
func writeUpgradeError(w http.ResponseWriter, code int, msg string) {
	if msg == "" {
		msg = codeMessages[code]
	}
	writeUpgradeStatus(w, http.StatusBadRequest, msg)
}

func writeUpgradeStatus(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Connection", "close")
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg))
}

// writeEmpty answers with status and no body (Node's res.writeHead(n).end()).
func writeEmpty(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}
