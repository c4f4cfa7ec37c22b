package primary

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/stickyd/stickyd/ipc"
)

// helloTimeout bounds how long a new link may take to send its Hello.
const helloTimeout = 10 * time.Second

func (s *Supervisor) listenLinks() (ctl, hub *net.UnixListener, err error) {
	ctl, err = ipc.ListenControl(s.ctlPath)
	if err != nil {
		return nil, nil, fmt.Errorf("primary: %w", err)
	}
	hub, err = ipc.ListenHub(s.hubPath)
	if err != nil {
		ctl.Close()
		return nil, nil, fmt.Errorf("primary: %w", err)
	}
	return ctl, hub, nil
}

// acceptControl accepts control links until ln is closed.
func (s *Supervisor) acceptControl(ln *net.UnixListener) {
	s.acceptLinks(ln, "control", func(c *net.UnixConn) { s.serveControl(ipc.NewControlConn(c)) })
}

// acceptLinks accepts worker links of one kind on ln until it is closed,
// serving each on its own goroutine counted in linkWG.
func (s *Supervisor) acceptLinks(ln *net.UnixListener, kind string, serve func(*net.UnixConn)) {
	defer s.linkWG.Done()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Error("link accept failed", "link", kind, "error", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.linkWG.Add(1)
		go serve(c)
	}
}

// authenticate checks a new link's peer uid and Hello (known instance,
// matching secret) and returns the instance. It returns an error wrapping
// ipc.ErrAuth for a peer that fails.
func (s *Supervisor) authenticate(uid uint32, m ipc.Message) (*instance, error) {
	if int(uid) != s.uid {
		return nil, fmt.Errorf("%w: peer uid %d, want %d", ipc.ErrAuth, uid, s.uid)
	}
	if m.Type != ipc.MsgHello {
		return nil, fmt.Errorf("%w: first message %s, want hello", ipc.ErrAuth, m.Type)
	}
	s.routingMu.Lock()
	in := s.instances[m.Instance]
	s.routingMu.Unlock()
	var secret [32]byte
	if in != nil {
		secret = in.secret
	}
	if subtle.ConstantTimeCompare(secret[:], m.Secret[:]) != 1 || in == nil {
		return nil, fmt.Errorf("%w: bad secret or unknown instance %d", ipc.ErrAuth, m.Instance)
	}
	return in, nil
}

// serveControl runs one control link: authenticate, Welcome, then handle
// Ready, Load and HandBack until the link fails. A link that fails after
// authentication gets its worker killed (the slot respawns it).
func (s *Supervisor) serveControl(cc *ipc.ControlConn) {
	defer s.linkWG.Done()
	defer cc.Close()
	if !s.trackLink(cc) {
		return
	}
	defer s.untrackLink(cc)
	cred, err := cc.PeerCred()
	if err != nil {
		s.log.Warn("control link rejected", "error", err)
		return
	}
	cc.SetReadDeadline(time.Now().Add(helloTimeout))
	m, f, err := cc.Recv()
	if f != nil {
		f.Close()
	}
	if err != nil {
		s.log.Warn("control link rejected", "peer_pid", cred.Pid, "error", err)
		return
	}
	in, err := s.authenticate(cred.Uid, m)
	s.untrackLink(cc)
	if err != nil {
		s.log.Warn("control link rejected", "peer_pid", cred.Pid, "error", err)
		return
	}
	// The worker may say Hello before its spawner has recorded the process;
	// wait for that so that a linked instance always has its pid.
	<-in.spawned
	s.routingMu.Lock()
	if in.link != nil || in.state == Gone || s.closing {
		s.routingMu.Unlock()
		s.log.Warn("control link rejected", "instance", in.id, "peer_pid", cred.Pid, "error", "instance already linked or gone")
		return
	}
	in.link = cc
	s.routingMu.Unlock()
	cc.SetReadDeadline(time.Time{})
	log := s.log.With("slot", in.slot, "instance", in.id)
	if err := cc.Send(&ipc.Message{Type: ipc.MsgWelcome, Instance: in.id, Generation: in.gen}, -1); err != nil {
		log.Error("control link failed", "error", err)
		s.killInstance(in)
		return
	}
	log.Debug("control link up", "worker_pid", m.PID)
	// err (declared above) keeps the error that ended the link
	for {
		var m ipc.Message
		var f *os.File
		m, f, err = cc.Recv()
		if err != nil {
			if !errors.Is(err, ipc.ErrClosed) && !(errors.Is(err, io.EOF) && (s.isClosing() || s.drainSentTo(in))) {
				log.Error("control link failed; restarting worker", "error", err)
			}
			break
		}
		if err := s.handleControl(in, m, f); err != nil {
			log.Error("control link failed; restarting worker", "error", err)
			break
		}
	}
	// The worker cannot take connections without its link: out of routing
	// now, killed, and respawned by its slot. A draining worker that closes
	// its link is on its way out: it is left to exit (the drain deadline
	// still applies).
	s.routingMu.Lock()
	draining := in.state == Draining
	in.state = Gone
	s.rebuildReadyLocked()
	s.routingMu.Unlock()
	cc.Close()
	if draining && errors.Is(err, io.EOF) {
		log.Debug("draining worker closed its control link")
		return
	}
	s.killInstance(in)
}

// handleControl acts on one message from in's worker. It owns f.
func (s *Supervisor) handleControl(in *instance, m ipc.Message, f *os.File) error {
	switch m.Type {
	case ipc.MsgReady:
		s.markReady(in)
		return nil
	case ipc.MsgLoad:
		s.routingMu.Lock()
		in.sessions, in.conns, in.received = int64(m.Sessions), int64(m.Conns), m.Received
		s.changedLocked()
		s.routingMu.Unlock()
		return nil
	case ipc.MsgHandBack:
		s.connWG.Add(1)
		go func() {
			defer s.connWG.Done()
			s.handBack(in, m, f)
		}()
		return nil
	}
	if f != nil {
		f.Close()
	}
	return fmt.Errorf("%w: unexpected %s message from worker", ipc.ErrMalformed, m.Type)
}

// markReady makes in Ready when it is Starting (a worker's first Ready,
// or a Node worker's stickyd:ready) and closes its readyCh.
func (s *Supervisor) markReady(in *instance) {
	s.routingMu.Lock()
	first := in.state == Starting
	if first {
		in.state = Ready
		s.rebuildReadyLocked()
	}
	s.routingMu.Unlock()
	if first {
		close(in.readyCh)
	}
}

// closeLinks closes every control link still open.
func (s *Supervisor) closeLinks() {
	s.routingMu.Lock()
	var links []interface{ Close() error }
	for _, in := range s.instances {
		if in.link != nil {
			links = append(links, in.link)
		}
	}
	s.routingMu.Unlock()
	s.linksMu.Lock()
	for c := range s.pending {
		links = append(links, c)
	}
	s.linksMu.Unlock()
	for _, l := range links {
		l.Close()
	}
}
