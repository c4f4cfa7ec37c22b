package primary

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// The operator's control socket (`stickyd status|reload|stop`). Not to be
// confused with the workers' control link (ipc.ControlConn): this one is a
// SOCK_STREAM Unix socket speaking one JSON request line and one JSON
// response line per connection.

// Control socket commands.
const (
	CommandStatus = "status"
	CommandReload = "reload"
	CommandStop   = "stop"
)

// Limits of one control socket exchange.
const (
	controlRequestMax     = 4 << 10
	controlRequestTimeout = 5 * time.Second
)

var (
	// ErrControlInUse is returned by ListenControlSocket when a live server already listens on the path.
	ErrControlInUse = errors.New("primary: control socket in use by another process")
	// ErrControlDenied is returned to a control socket client of another uid.
	ErrControlDenied = errors.New("primary: control socket: permission denied")
	// ErrControlCommand is returned for a malformed request or an unknown command.
	ErrControlCommand = errors.New("primary: control socket: bad command")
	// ErrControlFailed is returned by ControlRequest when the server answered with an error.
	ErrControlFailed = errors.New("primary: control command failed")
)

// ControlRequestMsg is one request on the control socket.
type ControlRequestMsg struct {
	Command string `json:"command"`
}

// ControlResponse is the answer to one request.
type ControlResponse struct {
	OK     bool          `json:"ok"`
	Error  string        `json:"error,omitempty"`
	Status *StatusReport `json:"status,omitempty"`
}

// StatusReport is the status command's answer.
type StatusReport struct {
	PID        int            `json:"pid"`
	Generation uint32         `json:"generation"`
	Workers    []WorkerReport `json:"workers"`
	Totals     StatusTotals   `json:"totals"`
	Reload     ReloadReport   `json:"reload"`
}

// WorkerReport is one worker instance in a StatusReport.
type WorkerReport struct {
	Slot        int     `json:"slot"`
	Instance    uint32  `json:"instance"`
	PID         int     `json:"pid"`
	Generation  uint32  `json:"generation"`
	State       string  `json:"state"`
	UptimeSec   float64 `json:"uptime_s"`
	Sessions    int64   `json:"sessions"`
	Connections int64   `json:"connections"`
	Restarts    int     `json:"restarts"`
}

// StatusTotals sums a StatusReport's workers.
type StatusTotals struct {
	Workers     int   `json:"workers"`
	Ready       int   `json:"ready"`
	Sessions    int64 `json:"sessions"`
	Connections int64 `json:"connections"`
}

// ReloadReport describes the latest reload.
type ReloadReport struct {
	Count      int       `json:"count"`                // reloads attempted
	InProgress bool      `json:"in_progress"`          // a reload is starting workers now
	Generation uint32    `json:"generation"`           // the generation the latest reload tried
	At         time.Time `json:"at,omitzero"`          // when it ended
	Error      string    `json:"error,omitempty"`      // why it failed; "" on success
	Draining   []uint32  `json:"draining_generations"` // old generations still running
}

// NewStatusReport builds the report of st at now.
func NewStatusReport(st Status, pid int, now time.Time) *StatusReport {
	r := &StatusReport{PID: pid, Generation: st.Generation, Workers: []WorkerReport{}}
	for _, w := range st.Workers {
		r.Workers = append(r.Workers, WorkerReport{
			Slot: w.Slot, Instance: w.Instance, PID: w.PID, Generation: w.Generation, State: w.State.String(),
			UptimeSec: now.Sub(w.Started).Seconds(), Sessions: w.Sessions, Connections: w.Conns, Restarts: w.Restarts,
		})
		r.Totals.Workers++
		if w.State == Ready && w.Generation == st.Generation {
			r.Totals.Ready++
		}
		r.Totals.Sessions += w.Sessions
		r.Totals.Connections += w.Conns
	}
	return r
}

// ControlOptions configure a control socket server.
type ControlOptions struct {
	// Path of the socket; "" means DefaultControlPath().
	Path string
	// Status answers the status command (required).
	Status func() *StatusReport
	// Reload runs a reload and returns its result (required). ctx ends when
	// the server is closed.
	Reload func(ctx context.Context) error
	// Stop begins a shutdown and returns at once (required).
	Stop func()
	// Logger; nil means hclog.NewNullLogger().
	Logger hclog.Logger
}

// ControlServer serves the control socket. Create it with
// ListenControlSocket; it serves until Close.
type ControlServer struct {
	opts   ControlOptions
	log    hclog.Logger
	ln     *net.UnixListener
	uid    atomic.Int64 // the only uid served; tests change it
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// DefaultControlPath is where the control socket lives without --control:
// $RUNTIME_DIRECTORY/control.sock under systemd (RuntimeDirectory=),
// else $XDG_RUNTIME_DIR/stickyd/control.sock, else
// $TMPDIR/stickyd-<uid>/control.sock.
func DefaultControlPath() string {
	if d := os.Getenv("RUNTIME_DIRECTORY"); d != "" {
		d, _, _ = strings.Cut(d, ":")
		return filepath.Join(d, "control.sock")
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "stickyd", "control.sock")
	}
	return filepath.Join(os.TempDir(), "stickyd-"+strconv.Itoa(os.Getuid()), "control.sock")
}

// ListenControlSocket creates the socket (mode 0600; its directory is
// created with mode 0700 when missing), replacing a stale socket file, and
// starts serving it on its own goroutines. It fails with ErrControlInUse
// when a server answers on the path.
func ListenControlSocket(opts ControlOptions) (*ControlServer, error) {
	if opts.Path == "" {
		opts.Path = DefaultControlPath()
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
		return nil, fmt.Errorf("primary: control socket: %w", err)
	}
	if _, err := os.Lstat(opts.Path); err == nil {
		if c, err := net.DialTimeout("unix", opts.Path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%w: %s", ErrControlInUse, opts.Path)
		}
		os.Remove(opts.Path) // stale: its server is gone
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: opts.Path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("primary: control socket: %w", err)
	}
	if err := os.Chmod(opts.Path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("primary: control socket: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cs := &ControlServer{opts: opts, log: opts.Logger, ln: ln, ctx: ctx, cancel: cancel, conns: make(map[net.Conn]struct{})}
	cs.uid.Store(int64(os.Getuid()))
	cs.wg.Add(1)
	go cs.serve()
	return cs, nil
}

// Path returns the socket's path.
func (cs *ControlServer) Path() string { return cs.opts.Path }

// Close stops serving, removes the socket file, cancels running reloads'
// contexts, closes open client connections and waits for the handlers.
// Idempotent.
func (cs *ControlServer) Close() error {
	err := cs.ln.Close()
	cs.cancel()
	cs.mu.Lock()
	for c := range cs.conns {
		c.Close()
	}
	cs.mu.Unlock()
	cs.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (cs *ControlServer) serve() {
	defer cs.wg.Done()
	for {
		c, err := cs.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			cs.log.Error("control socket accept failed", "error", err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-cs.ctx.Done():
				return
			}
			continue
		}
		cs.mu.Lock()
		if cs.ctx.Err() != nil {
			cs.mu.Unlock()
			c.Close()
			return
		}
		cs.conns[c] = struct{}{}
		cs.wg.Add(1)
		cs.mu.Unlock()
		go cs.handle(c)
	}
}

// handle answers one request on c and closes it.
func (cs *ControlServer) handle(c *net.UnixConn) {
	defer cs.wg.Done()
	defer func() {
		cs.mu.Lock()
		delete(cs.conns, c)
		cs.mu.Unlock()
		c.Close()
	}()
	resp := cs.answer(c)
	c.SetWriteDeadline(time.Now().Add(controlRequestTimeout))
	b, _ := json.Marshal(resp)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return
	}
	// Discard what the client still sends (a refused or oversized request)
	// until it closes, so that it reads our answer rather than a reset.
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(time.Second))
	io.CopyN(io.Discard, c, 64<<10)
}

func (cs *ControlServer) answer(c *net.UnixConn) ControlResponse {
	fail := func(err error) ControlResponse { return ControlResponse{Error: err.Error()} }
	uid, err := peerUID(c)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrControlDenied, err))
	}
	if int64(uid) != cs.uid.Load() {
		cs.log.Warn("control socket: request from another user refused", "uid", uid)
		return fail(fmt.Errorf("%w: uid %d", ErrControlDenied, uid))
	}
	c.SetReadDeadline(time.Now().Add(controlRequestTimeout))
	line, err := bufio.NewReaderSize(c, controlRequestMax).ReadSlice('\n')
	if err != nil {
		return fail(fmt.Errorf("%w: reading request: %w", ErrControlCommand, err))
	}
	var req ControlRequestMsg
	if err := json.Unmarshal(line, &req); err != nil {
		return fail(fmt.Errorf("%w: %w", ErrControlCommand, err))
	}
	c.SetReadDeadline(time.Time{})
	cs.log.Info("control command", "command", req.Command)
	switch req.Command {
	case CommandStatus:
		return ControlResponse{OK: true, Status: cs.opts.Status()}
	case CommandReload:
		if err := cs.opts.Reload(cs.ctx); err != nil {
			return fail(err)
		}
		return ControlResponse{OK: true}
	case CommandStop:
		cs.opts.Stop()
		return ControlResponse{OK: true}
	}
	return fail(fmt.Errorf("%w: unknown command %q (want status, reload or stop)", ErrControlCommand, req.Command))
}

// ControlRequest sends command to the control socket at path and returns
// the response. A response with OK false gives an error wrapping
// ErrControlFailed with the server's message, along with the response.
func ControlRequest(ctx context.Context, path, command string) (ControlResponse, error) {
	var resp ControlResponse
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return resp, fmt.Errorf("primary: control socket %s: %w", path, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	b, _ := json.Marshal(ControlRequestMsg{Command: command})
	if _, err := c.Write(append(b, '\n')); err != nil {
		return resp, fmt.Errorf("primary: control socket %s: %w", path, err)
	}
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return resp, fmt.Errorf("primary: control socket %s: reading response: %w", path, err)
	}
	if !resp.OK {
		return resp, fmt.Errorf("%w: %s", ErrControlFailed, resp.Error)
	}
	return resp, nil
}
