package engineio

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// wsReadBufferSize is the websocket read buffer; messages larger than it
// are read straight into their destination.
const wsReadBufferSize = 1024

// wsCloseGrace is how long a closing websocket waits for the client's close
// frame before the connection is dropped.
const wsCloseGrace = 2 * time.Second

// wsTransport is a websocket connection of a Socket: the current transport,
// or one being probed for an upgrade. The reader runs on its own goroutine
// (the handshake handler returns, so net/http's buffers for that request are
// released); a writer goroutine runs only while frames are queued. Fields
// other than conn are guarded by the socket's mu.
type wsTransport struct {
	s            *Socket
	conn         *websocket.Conn
	writing      bool // writer goroutine running
	closing      bool // graceful close: close once the queue drained
	closed       bool
	upgradeTimer *time.Timer
}

func newWSTransport(s *Socket, conn *websocket.Conn) *wsTransport {
	conn.SetReadLimit(s.srv.opts.MaxHTTPBufferSize)
	return &wsTransport{s: s, conn: conn}
}

// writeTimeout bounds one websocket write.
func (t *wsTransport) writeTimeout() time.Duration {
	o := &t.s.srv.opts
	return o.PingInterval + o.PingTimeout
}

// kickLocked starts the writer goroutine unless it runs.
func (t *wsTransport) kickLocked() {
	if t.writing || t.closed {
		return
	}
	t.writing = true
	go t.writeLoop()
}

// closeAfterFlushLocked makes the writer close the session once the queue
// is drained.
func (t *wsTransport) closeAfterFlushLocked() {
	t.closing = true
	t.kickLocked()
}

// writeLoop writes queued frames until the queue is empty, then exits.
func (t *wsTransport) writeLoop() {
	s := t.s
	for {
		s.mu.Lock()
		if t.closed {
			t.writing = false
			s.mu.Unlock()
			return
		}
		frames := s.takeQueueLocked()
		if len(frames) == 0 {
			t.writing = false
			closing := t.closing
			reason := s.closeReason
			s.mu.Unlock()
			if closing {
				s.terminate(reason, nil)
			}
			return
		}
		s.mu.Unlock()
		for _, f := range frames {
			if err := t.writeFrame(f); err != nil {
				s.mu.Lock()
				t.writing = false
				s.mu.Unlock()
				s.terminate(ReasonTransportError, fmt.Errorf("engineio: websocket write: %w", err))
				return
			}
		}
		s.mu.Lock()
		s.recycleLocked(frames)
		s.mu.Unlock()
	}
}

func (t *wsTransport) writeFrame(f *Frame) error {
	_ = t.conn.SetWriteDeadline(time.Now().Add(t.writeTimeout()))
	return f.writeTo(t.conn)
}

// closeLocked closes the transport: a close frame (empty, as Node's ws
// close()), then the reader drops the connection when the client answers or
// after wsCloseGrace.
func (t *wsTransport) closeLocked() {
	if t.closed {
		return
	}
	t.closed = true
	if t.upgradeTimer != nil {
		t.upgradeTimer.Stop()
	}
	go func() {
		deadline := time.Now().Add(wsCloseGrace)
		_ = t.conn.WriteControl(websocket.CloseMessage, []byte{}, deadline)
		_ = t.conn.SetReadDeadline(deadline)
	}()
}

// abortLocked closes a websocket that was being probed.
func (t *wsTransport) abortLocked() { t.closeLocked() }

// readLoop reads packets until the connection ends; probing is true for an
// upgrade candidate. Once the session (or the candidate) is done with the
// connection, it keeps reading and discarding until the client's close frame
// or the close grace deadline, then closes the connection.
func (t *wsTransport) readLoop(probing bool) {
	defer t.conn.Close()
	s := t.s
	draining := false
	fail := func(reason string, err error) {
		draining = true
		if probing {
			s.abortUpgrade(t)
			return
		}
		s.terminate(reason, err)
	}
	for {
		mt, data, err := t.conn.ReadMessage()
		if err != nil {
			if !draining {
				fail(classifyReadError(err))
			}
			return
		}
		if draining {
			continue
		}
		var p packet
		if mt == websocket.BinaryMessage {
			p = packet{typ: typeMessage, binary: true, data: data}
		} else {
			if !utf8.Valid(data) {
				fail(ReasonTransportError, fmt.Errorf("%w: invalid UTF-8 in text frame", ErrBadPacket))
				continue
			}
			if p, err = decodePacket(data); err != nil {
				fail(ReasonParseError, err)
				continue
			}
		}
		if probing {
			var ok bool
			if probing, ok = s.onProbePacket(t, p); !ok {
				draining = true
			}
			continue
		}
		if !s.onPacket(p) {
			draining = true
		}
	}
}

// rejectWebSocket closes a websocket the server will not use, with a close
// handshake as Node's ws close().
func rejectWebSocket(conn *websocket.Conn) {
	deadline := time.Now().Add(wsCloseGrace)
	_ = conn.WriteControl(websocket.CloseMessage, []byte{}, deadline)
	_ = conn.SetReadDeadline(deadline)
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			break
		}
	}
	conn.Close()
}

// classifyReadError maps a read error to Node's close reason: the peer
// closing or dropping the connection is "transport close", anything else
// (oversized or malformed frames) "transport error".
func classifyReadError(err error) (string, error) {
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		return ReasonTransportError, fmt.Errorf("%w: %v", ErrPayloadTooLarge, err)
	case errors.As(err, &ce), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed), errors.As(err, &ne):
		return ReasonTransportClose, err
	}
	return ReasonTransportError, err
}
