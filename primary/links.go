package primary

import (
	"fmt"
	"net"
	"time"

	"github.com/stickyd/stickyd/internal/peercred"
	"github.com/stickyd/stickyd/ipc"
)

// acceptHub accepts hub links until ln is closed.
func (s *Supervisor) acceptHub(ln *net.UnixListener) {
	s.acceptLinks(ln, "hub", s.serveHubLink)
}

// serveHubLink authenticates a hub link and hands it to the hub (Options.Hub).
func (s *Supervisor) serveHubLink(c *net.UnixConn) {
	defer s.linkWG.Done()
	uid, err := peercred.UID(c)
	if err != nil {
		c.Close()
		s.log.Warn("hub link rejected", "error", err)
		return
	}
	fc := ipc.NewFrameConn(c, ipc.MaxHubFrame)
	if !s.trackLink(fc) {
		fc.Close()
		return
	}
	c.SetReadDeadline(time.Now().Add(helloTimeout))
	typ, payload, err := fc.ReadFrame()
	var m ipc.Message
	if err == nil {
		m, err = ipc.ParseHelloFrame(typ, payload)
	}
	var in *instance
	if err == nil {
		in, err = s.authenticate(uid, m)
	}
	if err == nil {
		s.routingMu.Lock()
		if in.hubLinked || in.state == Gone || s.closing {
			err = fmt.Errorf("%w: instance %d already has a hub link or is gone", ipc.ErrAuth, in.id)
		}
		in.hubLinked = true
		s.routingMu.Unlock()
	}
	s.untrackLink(fc)
	if err != nil {
		fc.Close()
		s.log.Warn("hub link rejected", "error", err)
		return
	}
	c.SetReadDeadline(time.Time{})
	s.hub.Serve(in.id, fc)
}

// trackLink records a link that is not yet authenticated so that shutdown
// can close it; it returns false when shutdown has begun.
func (s *Supervisor) trackLink(c interface{ Close() error }) bool {
	s.linksMu.Lock()
	defer s.linksMu.Unlock()
	if s.isClosing() {
		return false
	}
	s.pending[c] = struct{}{}
	return true
}

func (s *Supervisor) untrackLink(c interface{ Close() error }) {
	s.linksMu.Lock()
	delete(s.pending, c)
	s.linksMu.Unlock()
}
