package workertest

import (
	"fmt"
	"net"
	"time"

	"github.com/stickyd/stickyd/ipc"
)

// waitConnected waits until the worker's Hello was handled.
func (p *Primary) waitConnected() error {
	t := time.NewTimer(p.opts.Timeout)
	defer t.Stop()
	select {
	case <-p.connected:
		return nil
	case <-t.C:
		return fmt.Errorf("%w: no worker connected within %s", ErrTimeout, p.opts.Timeout)
	}
}

// link returns the worker's control link once it was welcomed.
func (p *Primary) link() (*ipc.ControlConn, error) {
	if err := p.waitConnected(); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cc == nil || !p.recvStarted {
		return nil, ErrNotConnected
	}
	return p.cc, nil
}

// Send sends m to the worker, with fd attached when fd >= 0 (fd stays the
// caller's). It blocks while the worker's link is full, as the primary's
// slow path does.
func (p *Primary) Send(m *ipc.Message, fd int) error {
	cc, err := p.link()
	if err != nil {
		return err
	}
	if err := cc.Send(m, fd); err != nil {
		return fmt.Errorf("workertest: %w", err)
	}
	return nil
}

// Drain asks the worker to drain within deadline (MsgDrain).
func (p *Primary) Drain(deadline time.Duration) error {
	return p.Send(&ipc.Message{Type: ipc.MsgDrain, DeadlineMS: uint32(deadline.Milliseconds())}, -1)
}

// Retire tells the worker a newer generation serves new sessions (MsgRetire).
func (p *Primary) Retire() error { return p.Send(&ipc.Message{Type: ipc.MsgRetire}, -1) }

// CloseLink closes the worker's control link: the worker sees the primary
// go away (it drains and exits, see worker.Options.Exit).
func (p *Primary) CloseLink() error {
	cc, err := p.link()
	if err != nil {
		return err
	}
	return cc.Close()
}

// HandOff hands conn to the worker as the primary does: a MsgConn with a
// fresh connection id, conn's remote address and prefix (bytes the worker
// must deliver before the socket's; nil for a fresh connection), carrying
// conn's fd. It closes conn (this process's copy) on every path and
// returns the connection id.
func (p *Primary) HandOff(conn *net.TCPConn, prefix []byte) (uint64, error) {
	defer conn.Close()
	cc, err := p.link()
	if err != nil {
		return 0, err
	}
	id := p.nextID.Add(1)
	m := ipc.Message{Type: ipc.MsgConn, ConnID: id, Addr: conn.RemoteAddr().String(), Prefix: prefix}
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("workertest: hand-off: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = cc.Send(&m, int(fd)) }); err != nil {
		return 0, fmt.Errorf("workertest: hand-off: %w", err)
	}
	if serr != nil {
		return 0, fmt.Errorf("workertest: hand-off: %w", serr)
	}
	return id, nil
}

// Dial connects a client to the Primary's loopback port and hands the
// server side to the worker (HandOff, no prefix). It returns the client
// side, which the caller closes, and the connection id.
func (p *Primary) Dial() (*net.TCPConn, uint64, error) { return p.DialPrefix(nil) }

// DialPrefix is Dial with prefix given to the worker as bytes already
// read from the stream (as after a hand-back).
func (p *Primary) DialPrefix(prefix []byte) (*net.TCPConn, uint64, error) {
	client, server, err := p.Pair()
	if err != nil {
		return nil, 0, err
	}
	id, err := p.HandOff(server, prefix)
	if err != nil {
		client.Close()
		return nil, 0, err
	}
	return client, id, nil
}

// Pair returns both ends of a new loopback TCP connection to the
// Primary's port, for a test that prepares a connection before HandOff
// (the client writes first, the socket gets options). The caller closes
// both (HandOff closes server).
func (p *Primary) Pair() (client, server *net.TCPConn, err error) {
	p.dialMu.Lock()
	defer p.dialMu.Unlock()
	client, err = net.DialTCP("tcp", nil, p.tcp.Addr().(*net.TCPAddr))
	if err != nil {
		return nil, nil, fmt.Errorf("workertest: dial: %w", err)
	}
	p.tcp.SetDeadline(time.Now().Add(p.opts.Timeout))
	server, err = p.tcp.AcceptTCP()
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("workertest: accept: %w", err)
	}
	return client, server, nil
}

// AcceptHub waits for the worker's hub link (worker.Listener.DialHub),
// checks its Hello frame and returns the link, which Close closes. A link
// whose Hello is bad is closed at once (ErrBadHello).
func (p *Primary) AcceptHub() (*ipc.FrameConn, error) {
	p.hub.SetDeadline(time.Now().Add(p.opts.Timeout))
	uc, err := p.hub.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("%w: hub: %w", ErrTimeout, err)
	}
	fc := ipc.NewFrameConn(uc, ipc.MaxHubFrame)
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.hubs = append(p.hubs, fc)
	}
	p.mu.Unlock()
	if closed {
		fc.Close()
		return nil, ErrNotConnected
	}
	uc.SetReadDeadline(time.Now().Add(p.opts.Timeout))
	typ, payload, err := fc.ReadFrame()
	uc.SetReadDeadline(time.Time{})
	var hello ipc.Message
	if err == nil {
		hello, err = ipc.ParseHelloFrame(typ, payload)
	}
	if err != nil {
		err = fmt.Errorf("%w: hub: %w", ErrBadHello, err)
	} else if err = p.checkHello(hello); err != nil {
		err = fmt.Errorf("hub: %w", err)
	}
	if err != nil { // refused as the primary's hub does: the link is closed
		fc.Close()
		return nil, err
	}
	return fc, nil
}
