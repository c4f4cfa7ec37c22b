package workertest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stickyd/stickyd/ipc"
)

// The environment variables a worker reads (package worker's Env*
// constants, spelled out here so that package worker's own tests can use
// this package).
const (
	envSocket     = "STICKYD_SOCKET"
	envHubSocket  = "STICKYD_HUB_SOCKET"
	envInstance   = "STICKYD_INSTANCE"
	envWorkerID   = "STICKYD_WORKER_ID"
	envGeneration = "STICKYD_GENERATION"
	envSecret     = "STICKYD_SECRET"
	envWorkers    = "STICKYD_WORKERS"
)

// messageBuffer is the capacity of the channel Messages returns.
const messageBuffer = 4096

// Options configure New. The zero value is usable.
type Options struct {
	// Instance is the worker's instance id (default 1).
	Instance uint32
	// WorkerID is the worker's slot, STICKYD_WORKER_ID (default 1).
	WorkerID int
	// Workers is STICKYD_WORKERS (default 1).
	Workers int
	// Generation is STICKYD_GENERATION and the Welcome's generation.
	Generation uint32
	// Welcome, when set, makes the answer to the worker's Hello (which
	// New has not checked then); returning nil refuses the worker: the
	// link is closed. Default: the Hello is checked and answered with a
	// Welcome of Instance and Generation.
	Welcome func(hello ipc.Message) *ipc.Message
	// Timeout bounds every wait of a method (default 5 s).
	Timeout time.Duration
}

// Received is a message from the worker and the fd that came with it
// (a HandBack's client connection), which the receiver must close.
type Received struct {
	Msg  ipc.Message
	File *os.File
}

// Primary is a fake stickyd primary serving one worker. Make it with New;
// Close it.
type Primary struct {
	opts   Options
	dir    string
	secret [32]byte
	env    map[string]string
	ctl    *net.UnixListener
	hub    *net.UnixListener
	tcp    *net.TCPListener
	nextID atomic.Uint64
	dialMu sync.Mutex    // one Pair at a time: it accepts the connection it made
	msgs   chan Received // closed when the control link ends (or at Close)

	connected chan struct{} // closed when the Hello phase ended, either way
	wg        sync.WaitGroup

	mu          sync.Mutex
	cc          *ipc.ControlConn // nil until the worker dialled
	hello       ipc.Message
	helloErr    error
	recvStarted bool
	closed      bool
	hubs        []*ipc.FrameConn

	closeOnce sync.Once
}

// New creates the socket directory, listens on its control and hub
// sockets and on a loopback TCP port (for Dial), and starts waiting for
// the worker's control link.
func New(opts Options) (*Primary, error) {
	if opts.Instance == 0 {
		opts.Instance = 1
	}
	if opts.WorkerID <= 0 {
		opts.WorkerID = 1
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	p := &Primary{opts: opts, msgs: make(chan Received, messageBuffer), connected: make(chan struct{})}
	if _, err := rand.Read(p.secret[:]); err != nil {
		return nil, fmt.Errorf("workertest: secret: %w", err)
	}
	if err := p.listen(); err != nil {
		p.closeListeners()
		return nil, err
	}
	p.env = map[string]string{
		envSocket:     filepath.Join(p.dir, "ctl.sock"),
		envHubSocket:  filepath.Join(p.dir, "hub.sock"),
		envInstance:   strconv.FormatUint(uint64(opts.Instance), 10),
		envWorkerID:   strconv.Itoa(opts.WorkerID),
		envGeneration: strconv.FormatUint(uint64(opts.Generation), 10),
		envSecret:     hex.EncodeToString(p.secret[:]),
		envWorkers:    strconv.Itoa(opts.Workers),
	}
	p.wg.Add(1)
	go p.acceptWorker()
	return p, nil
}

// listen makes the directory (mode 0700) and the three listeners.
func (p *Primary) listen() error {
	dir, err := os.MkdirTemp("", "workertest-")
	if err != nil {
		return fmt.Errorf("workertest: %w", err)
	}
	p.dir = dir
	if p.ctl, err = ipc.ListenControl(filepath.Join(dir, "ctl.sock")); err != nil {
		return fmt.Errorf("workertest: %w", err)
	}
	if p.hub, err = ipc.ListenHub(filepath.Join(dir, "hub.sock")); err != nil {
		return fmt.Errorf("workertest: %w", err)
	}
	if p.tcp, err = net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		return fmt.Errorf("workertest: %w", err)
	}
	return nil
}

// closeListeners closes what listen made and removes the directory.
func (p *Primary) closeListeners() {
	if p.ctl != nil {
		p.ctl.Close()
	}
	if p.hub != nil {
		p.hub.Close()
	}
	if p.tcp != nil {
		p.tcp.Close()
	}
	if p.dir != "" {
		os.RemoveAll(p.dir)
	}
}

// acceptWorker takes the worker's control link and answers its Hello,
// then starts receiving its messages.
func (p *Primary) acceptWorker() {
	defer p.wg.Done()
	defer close(p.connected)
	uc, err := p.ctl.AcceptUnix()
	if err != nil {
		p.setHello(ipc.Message{}, fmt.Errorf("%w: %w", ErrNotConnected, err))
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		uc.Close()
		return
	}
	cc := ipc.NewControlConn(uc)
	p.cc = cc
	p.mu.Unlock()
	hello, err := p.readHello(cc)
	welcome := &ipc.Message{Type: ipc.MsgWelcome, Instance: p.opts.Instance, Generation: p.opts.Generation}
	if p.opts.Welcome != nil {
		welcome = p.opts.Welcome(hello)
	} else if err != nil {
		welcome = nil
	}
	p.setHello(hello, err)
	if welcome == nil {
		cc.Close()
		return
	}
	if err := cc.Send(welcome, -1); err != nil {
		p.setHello(hello, fmt.Errorf("workertest: welcome: %w", err))
		cc.Close()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed { // goroutines start under the lock, never after Close
		p.recvStarted = true
		p.wg.Add(1)
		go p.receive(cc)
	}
}

// readHello reads the worker's Hello and checks its instance and secret.
func (p *Primary) readHello(cc *ipc.ControlConn) (ipc.Message, error) {
	cc.SetReadDeadline(time.Now().Add(p.opts.Timeout))
	defer cc.SetReadDeadline(time.Time{})
	m, f, err := cc.Recv()
	if f != nil {
		f.Close()
		return m, fmt.Errorf("%w: it carries an fd", ErrBadHello)
	}
	switch {
	case err != nil:
		return m, fmt.Errorf("%w: %w", ErrBadHello, err)
	case m.Type != ipc.MsgHello:
		return m, fmt.Errorf("%w: got %s", ErrBadHello, m.Type)
	}
	return m, p.checkHello(m)
}

// checkHello checks a Hello's instance and secret.
func (p *Primary) checkHello(m ipc.Message) error {
	if m.Instance != p.opts.Instance || subtle.ConstantTimeCompare(m.Secret[:], p.secret[:]) != 1 {
		return fmt.Errorf("%w: instance %d or secret does not match instance %d", ErrBadHello, m.Instance, p.opts.Instance)
	}
	return nil
}

func (p *Primary) setHello(m ipc.Message, err error) {
	p.mu.Lock()
	p.hello, p.helloErr = m, err
	p.mu.Unlock()
}

// receive puts the worker's messages on p.msgs until the link ends.
func (p *Primary) receive(cc *ipc.ControlConn) {
	defer p.wg.Done()
	defer close(p.msgs)
	for {
		m, f, err := cc.Recv()
		if err != nil {
			return
		}
		p.msgs <- Received{Msg: m, File: f}
	}
}

// Close closes the listeners and the worker's links (the worker sees the
// primary go away, as when stickyd exits), closes every fd received and
// not taken from Messages, and removes the socket directory. Idempotent.
func (p *Primary) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		cc, hubs := p.cc, p.hubs
		p.mu.Unlock()
		p.closeListeners()
		if cc != nil {
			cc.Close()
		}
		for _, h := range hubs {
			h.Close()
		}
		<-p.connected
		p.mu.Lock()
		started := p.recvStarted
		p.mu.Unlock()
		if !started {
			close(p.msgs)
		}
		for r := range p.msgs {
			if r.File != nil {
				r.File.Close()
			}
		}
		p.wg.Wait()
	})
	return nil
}
