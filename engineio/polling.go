package engineio

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// pollCloseTimeout bounds how long a graceful close waits for the client's
// next GET to deliver the close packet (Node's closeTimeout).
const pollCloseTimeout = 30 * time.Second

// clientCloseGrace is how long a close packet POSTed while no GET is
// pending waits for a GET in flight, to release it with a noop as Node does
// when that GET arrived first.
const clientCloseGrace = 50 * time.Millisecond

// upgradeCheckInterval is how often a probed upgrade releases a pending GET
// with a noop (Node's check interval).
const upgradeCheckInterval = 100 * time.Millisecond

// pollTransport is the HTTP long-polling state of a Socket. All fields are
// guarded by the socket's mu. It holds no goroutine: a pending GET is served
// by its own net/http handler goroutine, blocked on pollGet.ch.
type pollTransport struct {
	s            *Socket
	get          *pollGet // pending GET; nil when not writable
	posting      bool     // a POST is being read
	pendingClose *Frame   // close waits for the next GET, which gets this (close or noop)
	closeTimer   *time.Timer
	noopTimer    *time.Timer // upgrade check
}

// pollGet is a pending GET. Exactly one batch is ever sent on ch (cap 1), by
// whoever clears pollTransport.get.
type pollGet struct {
	ch chan []*Frame
}

// handLocked answers the pending GET with frames.
func (p *pollTransport) handLocked(frames []*Frame) {
	g := p.get
	p.get = nil
	g.ch <- frames
}

// flushLocked hands the socket's queue to a pending GET.
func (p *pollTransport) flushLocked() {
	if p.get != nil && len(p.s.queue) > 0 {
		p.handLocked(p.s.takeQueueLocked())
	}
}

// closeLocked starts a graceful close (Node's Polling.doClose). It reports
// true when the close packet went out at once, so the caller terminates the
// session; otherwise the next GET (or pollCloseTimeout) finishes it.
func (p *pollTransport) closeLocked() bool {
	if p.get != nil {
		p.handLocked(append(p.s.takeQueueLocked(), frameClose))
		return true
	}
	p.pendingClose = frameClose
	s := p.s
	p.closeTimer = time.AfterFunc(pollCloseTimeout, func() {
		s.mu.Lock()
		reason := s.closeReason
		s.mu.Unlock()
		s.terminate(reason, nil)
	})
	return false
}

// terminateLocked releases a pending GET when the session closes: a noop
// when the client itself closed, else a close packet (as Node).
func (p *pollTransport) terminateLocked(reason string) {
	p.stopTimersLocked()
	if p.get != nil {
		if reason == ReasonTransportClose {
			p.handLocked(frameNoopPacket)
		} else {
			p.handLocked(frameClosePkt)
		}
	}
}

func (p *pollTransport) stopTimersLocked() {
	if p.closeTimer != nil {
		p.closeTimer.Stop()
	}
	if p.noopTimer != nil {
		p.noopTimer.Stop()
	}
}

// startUpgradeCheckLocked releases a pending GET with a noop now and every
// upgradeCheckInterval while the upgrade is under way, so the client can
// pause polling and send the upgrade packet.
func (p *pollTransport) startUpgradeCheckLocked() {
	p.releaseLocked()
	if p.noopTimer != nil {
		p.noopTimer.Reset(upgradeCheckInterval)
		return
	}
	s := p.s
	p.noopTimer = time.AfterFunc(upgradeCheckInterval, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.poll != p || s.upgrading == nil || s.state == stateClosed {
			return
		}
		p.releaseLocked()
		p.noopTimer.Reset(upgradeCheckInterval)
	})
}

func (p *pollTransport) releaseLocked() {
	if p.get != nil && len(p.s.queue) == 0 {
		p.handLocked(frameNoopPacket)
	}
}

// lockPoll locks s.mu and returns the session's polling transport, for a
// GET or POST on it. When the session is closed (400 "Session ID unknown")
// or has upgraded meanwhile (400 "Bad request"), it answers w itself,
// unlocks s.mu and returns nil; otherwise s.mu stays held.
func (s *Socket) lockPoll(w http.ResponseWriter) *pollTransport {
	s.mu.Lock()
	switch {
	case s.state == stateClosed:
		s.mu.Unlock()
		writeRequestError(w, CodeUnknownSID, "")
		return nil
	case s.poll == nil: // upgraded meanwhile
		s.mu.Unlock()
		writeRequestError(w, CodeBadRequest, "")
		return nil
	}
	return s.poll
}

// refuseLocked answers a request that breaks the polling protocol: it
// unlocks s.mu (held on entry), closes the session with "transport error"
// and err, and answers w with an empty 400.
func (s *Socket) refuseLocked(w http.ResponseWriter, err error) {
	s.mu.Unlock()
	s.terminate(ReasonTransportError, err)
	writeEmpty(w, http.StatusBadRequest)
}

// serveGet serves a poll GET (handshake is true for the handshake request):
// it answers at once when frames are queued, else blocks until frames are
// handed over or the client goes away ("transport error").
func (s *Socket) serveGet(w http.ResponseWriter, r *http.Request, handshake bool) {
	p := s.lockPoll(w)
	if p == nil {
		return
	}
	if p.get != nil {
		s.refuseLocked(w, ErrPollOverlap)
		return
	}
	var frames []*Frame
	closeAfter := false
	if len(s.queue) > 0 || p.pendingClose != nil {
		frames = s.takeQueueLocked()
		if p.pendingClose != nil {
			frames = append(frames, p.pendingClose)
			p.pendingClose = nil
			p.closeTimer.Stop()
			closeAfter = true
		}
		s.mu.Unlock()
	} else {
		g := &pollGet{ch: make(chan []*Frame, 1)}
		p.get = g
		s.mu.Unlock()
		select {
		case frames = <-g.ch:
		case <-r.Context().Done():
			s.mu.Lock()
			if p.get == g {
				p.get = nil
				s.mu.Unlock()
				s.terminate(ReasonTransportError, fmt.Errorf("%w: poll", ErrPrematureClose))
				return
			}
			s.mu.Unlock()
			return // frames were handed over as the client left; they are lost with it
		}
	}
	s.writePayload(w, frames, handshake)
	if closeAfter {
		s.mu.Lock()
		reason := s.closeReason
		s.mu.Unlock()
		s.terminate(reason, nil)
	}
}

// writePayload writes frames as a polling payload response.
func (s *Socket) writePayload(w http.ResponseWriter, frames []*Frame, handshake bool) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(encodedPayloadLen(frames)))
	h.Set("Cache-Control", "no-store")
	if handshake && s.srv.opts.Cookie != nil {
		c := s.srv.opts.Cookie
		ck := http.Cookie{Name: c.Name, Value: s.id, Path: c.Path, HttpOnly: c.HTTPOnly, Secure: c.Secure, SameSite: c.SameSite}
		h.Add("Set-Cookie", ck.String())
	}
	w.WriteHeader(http.StatusOK)
	sep := []byte{recordSeparator}
	for i, f := range frames {
		if i > 0 {
			_, _ = w.Write(sep)
		}
		_, _ = w.Write(f.pollingRecord())
	}
}

// servePost serves a data POST: it decodes the payload and handles its
// packets in order, then answers 200 "ok" (text/html, as Node).
func (s *Socket) servePost(w http.ResponseWriter, r *http.Request) {
	p := s.lockPoll(w)
	if p == nil {
		return
	}
	switch {
	case p.posting:
		s.refuseLocked(w, ErrPollOverlap)
		return
	case r.Header.Get("Content-Type") == "application/octet-stream":
		s.refuseLocked(w, ErrBadContent)
		return
	}
	p.posting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		p.posting = false
		s.mu.Unlock()
	}()

	max := s.srv.opts.MaxHTTPBufferSize
	if r.ContentLength > max {
		s.terminate(ReasonTransportError, fmt.Errorf("%w: %d bytes", ErrPayloadTooLarge, r.ContentLength))
		writeEmpty(w, http.StatusRequestEntityTooLarge)
		return
	}
	body, err := readBody(r, max)
	if err != nil {
		s.terminate(ReasonTransportError, fmt.Errorf("%w: data: %v", ErrPrematureClose, err))
		writeEmpty(w, http.StatusBadRequest)
		return
	}
	if int64(len(body)) > max {
		s.terminate(ReasonTransportError, fmt.Errorf("%w: more than %d bytes", ErrPayloadTooLarge, max))
		writeEmpty(w, http.StatusRequestEntityTooLarge)
		return
	}
	pkts, perr := decodePayload(body)
	for _, pk := range pkts {
		if pk.typ == typeClose {
			s.closeByClient()
			perr = nil
			break
		}
		if !s.onPacket(pk, nil) {
			perr = nil
			break
		}
	}
	if perr != nil {
		s.terminate(ReasonParseError, perr)
		writeEmpty(w, http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "ok")
}

// readBody reads r's body, up to max+1 bytes: a body of a known length
// (at most max, its Content-Length) into a slice of exactly that size, one
// of unknown length (chunked) through io.ReadAll.
func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength < 0 {
		return io.ReadAll(io.LimitReader(r.Body, max+1))
	}
	body := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, body); err != nil {
		return nil, err
	}
	return body, nil
}

// closeByClient handles a close packet POSTed by the client: the session
// closes with "transport close" and a pending GET gets a noop. With no GET
// pending it waits clientCloseGrace for one in flight (writes are refused
// meanwhile), so a GET sent just before the close is answered 200 "6" as
// Node answers it, not 400.
func (s *Socket) closeByClient() {
	s.mu.Lock()
	p := s.poll
	if s.state == stateClosed || p == nil || p.get != nil || p.pendingClose != nil {
		s.mu.Unlock()
		s.terminate(ReasonTransportClose, nil)
		return
	}
	s.state = stateClosing
	s.closeReason = ReasonTransportClose
	s.queue, s.cuts = nil, nil
	s.queued = 0
	p.pendingClose = frameNoop
	p.closeTimer = time.AfterFunc(clientCloseGrace, func() { s.terminate(ReasonTransportClose, nil) })
	s.mu.Unlock()
}
