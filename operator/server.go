package operator

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
	"github.com/stickyd/stickyd/internal/peercred"
)

// Commands of the operator socket.
const (
	CommandStatus = "status"
	CommandReload = "reload"
	CommandStop   = "stop"
)

// Limits of one exchange.
const (
	requestMax     = 4 << 10
	requestTimeout = 5 * time.Second
)

var (
	// ErrInUse is returned by Listen when a live server already listens on the path.
	ErrInUse = errors.New("operator: socket in use by another process")
	// ErrNotSocket is returned by Listen when the path exists and is not a
	// socket (it is left alone).
	ErrNotSocket = errors.New("operator: path exists and is not a socket")
	// ErrDenied is returned to a client of another uid.
	ErrDenied = errors.New("operator: permission denied")
	// ErrCommand is returned for a malformed request or an unknown command.
	ErrCommand = errors.New("operator: bad command")
	// ErrFailed is returned by Call when the server answered with an error.
	ErrFailed = errors.New("operator: command failed")
)

// Options configure a Server.
type Options struct {
	// Path of the socket; "" means DefaultPath().
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

// Server serves the operator socket. Create it with Listen; it serves
// until Close.
type Server struct {
	opts   Options
	log    hclog.Logger
	ln     *net.UnixListener
	uid    atomic.Int64 // the only uid served; tests change it
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	connsMu sync.Mutex // guards conns
	conns   map[net.Conn]struct{}
}

// DefaultPath is where the operator socket lives without --control:
// $RUNTIME_DIRECTORY/control.sock under systemd (RuntimeDirectory=),
// else $XDG_RUNTIME_DIR/stickyd/control.sock, else
// $TMPDIR/stickyd-<uid>/control.sock.
func DefaultPath() string {
	if d := os.Getenv("RUNTIME_DIRECTORY"); d != "" {
		d, _, _ = strings.Cut(d, ":")
		return filepath.Join(d, "control.sock")
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "stickyd", "control.sock")
	}
	return filepath.Join(os.TempDir(), "stickyd-"+strconv.Itoa(os.Getuid()), "control.sock")
}

// Listen creates the socket (mode 0600; its directory is
// created with mode 0700 when missing), replacing a stale socket file, and
// starts serving it on its own goroutines. It fails with ErrInUse
// when a server answers on the path, and with ErrNotSocket when the path
// is another kind of file.
func Listen(opts Options) (*Server, error) {
	if opts.Path == "" {
		opts.Path = DefaultPath()
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
		return nil, fmt.Errorf("operator: %w", err)
	}
	if fi, err := os.Lstat(opts.Path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("%w: %s", ErrNotSocket, opts.Path)
		}
		if c, err := net.DialTimeout("unix", opts.Path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%w: %s", ErrInUse, opts.Path)
		}
		os.Remove(opts.Path) // stale: its server is gone
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: opts.Path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("operator: %w", err)
	}
	if err := os.Chmod(opts.Path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("operator: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cs := &Server{opts: opts, log: opts.Logger, ln: ln, ctx: ctx, cancel: cancel, conns: make(map[net.Conn]struct{})}
	cs.uid.Store(int64(os.Getuid()))
	cs.wg.Add(1)
	go cs.serve()
	return cs, nil
}

// Path returns the socket's path.
func (cs *Server) Path() string { return cs.opts.Path }

// Close stops serving, removes the socket file, cancels running reloads'
// contexts, closes open client connections and waits for the handlers.
// Idempotent.
func (cs *Server) Close() error {
	err := cs.ln.Close()
	cs.cancel()
	cs.connsMu.Lock()
	for c := range cs.conns {
		c.Close()
	}
	cs.connsMu.Unlock()
	cs.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (cs *Server) serve() {
	defer cs.wg.Done()
	for {
		c, err := cs.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			cs.log.Error("operator socket accept failed", "error", err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-cs.ctx.Done():
				return
			}
			continue
		}
		cs.connsMu.Lock()
		if cs.ctx.Err() != nil {
			cs.connsMu.Unlock()
			c.Close()
			return
		}
		cs.conns[c] = struct{}{}
		cs.wg.Add(1)
		cs.connsMu.Unlock()
		go cs.handle(c)
	}
}

// handle answers one request on c and closes it.
func (cs *Server) handle(c *net.UnixConn) {
	defer cs.wg.Done()
	defer func() {
		cs.connsMu.Lock()
		delete(cs.conns, c)
		cs.connsMu.Unlock()
		c.Close()
	}()
	resp := cs.answer(c)
	c.SetWriteDeadline(time.Now().Add(requestTimeout))
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

func (cs *Server) answer(c *net.UnixConn) Response {
	fail := func(err error) Response { return Response{Error: err.Error()} }
	uid, err := peercred.UID(c)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrDenied, err))
	}
	if int64(uid) != cs.uid.Load() {
		cs.log.Warn("request from another user refused", "uid", uid)
		return fail(fmt.Errorf("%w: uid %d", ErrDenied, uid))
	}
	c.SetReadDeadline(time.Now().Add(requestTimeout))
	line, err := bufio.NewReaderSize(c, requestMax).ReadSlice('\n')
	if err != nil {
		return fail(fmt.Errorf("%w: reading request: %w", ErrCommand, err))
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		return fail(fmt.Errorf("%w: %w", ErrCommand, err))
	}
	c.SetReadDeadline(time.Time{})
	cs.log.Info("operator command", "command", req.Command)
	switch req.Command {
	case CommandStatus:
		return Response{OK: true, Status: cs.opts.Status()}
	case CommandReload:
		if err := cs.opts.Reload(cs.ctx); err != nil {
			return fail(err)
		}
		return Response{OK: true}
	case CommandStop:
		cs.opts.Stop()
		return Response{OK: true}
	}
	return fail(fmt.Errorf("%w: unknown command %q (want status, reload or stop)", ErrCommand, req.Command))
}

// Call sends command to the operator socket at path and returns the
// response. A response with OK false gives an error wrapping ErrFailed
// with the server's message, along with the response.
func Call(ctx context.Context, path, command string) (Response, error) {
	var resp Response
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return resp, fmt.Errorf("operator: %s: %w", path, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	b, _ := json.Marshal(Request{Command: command})
	if _, err := c.Write(append(b, '\n')); err != nil {
		return resp, fmt.Errorf("operator: %s: %w", path, err)
	}
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return resp, fmt.Errorf("operator: %s: reading response: %w", path, err)
	}
	if !resp.OK {
		return resp, fmt.Errorf("%w: %s", ErrFailed, resp.Error)
	}
	return resp, nil
}
