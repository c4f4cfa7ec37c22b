package workertest

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/stickyd/stickyd/ipc"
)

// Messages returns the channel of the worker's messages after its Hello,
// in order; it is closed when the control link ends. Next, WaitLoad,
// HandBack and WaitClosed read from it too. Close the File of each
// Received taken from it.
func (p *Primary) Messages() <-chan Received { return p.msgs }

// errLoadPending is WaitLoad's error before any Load came.
var errLoadPending = errors.New("no load message")

// next returns the next message, or an error when the link closed or
// deadline passed.
func (p *Primary) next(deadline <-chan time.Time) (Received, error) {
	select {
	case r, ok := <-p.msgs:
		if !ok {
			return Received{}, ErrLinkClosed
		}
		return r, nil
	case <-deadline:
		return Received{}, ErrTimeout
	}
}

// Next returns the worker's next message of type typ, skipping Load
// messages unless typ is MsgLoad. Another message is an error wrapping
// ErrUnexpected (its fd closed).
func (p *Primary) Next(typ ipc.MsgType) (Received, error) {
	deadline := time.NewTimer(p.opts.Timeout)
	defer deadline.Stop()
	for {
		r, err := p.next(deadline.C)
		if err != nil {
			return r, fmt.Errorf("workertest: waiting for %s: %w", typ, err)
		}
		if r.Msg.Type == typ {
			return r, nil
		}
		if r.File != nil {
			r.File.Close()
		}
		if r.Msg.Type != ipc.MsgLoad {
			return Received{}, fmt.Errorf("%w: got %s while waiting for %s", ErrUnexpected, r.Msg.Type, typ)
		}
	}
}

// WaitLoad waits for a Load message for which ok returns nil and returns
// it; other messages are discarded (their fds closed). The error on a
// timeout wraps ok's last error.
func (p *Primary) WaitLoad(ok func(load ipc.Message) error) (ipc.Message, error) {
	deadline := time.NewTimer(p.opts.Timeout)
	defer deadline.Stop()
	last := errLoadPending
	for {
		r, err := p.next(deadline.C)
		if err != nil {
			return ipc.Message{}, fmt.Errorf("workertest: waiting for a load: %w (last: %w)", err, last)
		}
		if r.File != nil {
			r.File.Close()
		}
		if r.Msg.Type != ipc.MsgLoad {
			continue
		}
		if last = ok(r.Msg); last == nil {
			return r.Msg, nil
		}
	}
}

// HandBack waits for the worker's next HandBack and returns it with the
// connection it carried (skipping Loads, like Next).
func (p *Primary) HandBack() (ipc.Message, net.Conn, error) {
	r, err := p.Next(ipc.MsgHandBack)
	if err != nil {
		return ipc.Message{}, nil, err
	}
	if r.File == nil {
		return r.Msg, nil, fmt.Errorf("%w: hand-back without a connection", ErrUnexpected)
	}
	defer r.File.Close()
	c, err := net.FileConn(r.File)
	if err != nil {
		return r.Msg, nil, fmt.Errorf("workertest: hand-back: %w", err)
	}
	return r.Msg, c, nil
}

// WaitClosed discards the worker's messages (closing their fds) until it
// closes its control link.
func (p *Primary) WaitClosed() error {
	deadline := time.NewTimer(p.opts.Timeout)
	defer deadline.Stop()
	for {
		r, err := p.next(deadline.C)
		if errors.Is(err, ErrLinkClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("workertest: control link still open: %w", err)
		}
		if r.File != nil {
			r.File.Close()
		}
	}
}
