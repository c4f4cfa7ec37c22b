package primary

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stickyd/stickyd/ipc"
	"github.com/stickyd/stickyd/worker"
	"golang.org/x/sys/unix"
)

// fakeWorkerEnv selects the fake worker mode when the test binary is
// re-executed as a worker.
const fakeWorkerEnv = "STICKYD_TEST_WORKER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeWorkerEnv); mode != "" {
		runFakeWorker(mode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runFakeWorker is a minimal worker built on ipc alone: Hello/Welcome,
// Ready, serve handed-off conns over HTTP, hand back keep-alive requests for
// other instances, exit when the link ends or on Drain. Modes:
//
//	ok        as above
//	noready   never sends Ready
//	nodrain   ignores Drain (the primary must kill it)
//	crash     exits 3 right after Welcome
//	noload    never sends Load (hand-offs stay in flight)
//	lingerdrain  on Drain closes its link, exits 0 300 ms later
//	stall     reads nothing from its control link after Ready until it
//	          gets SIGUSR1 (the primary's sends to it back up)
//	listener  not built on ipc: the worker package (worker.Listen and
//	          ServeListener), as an app is; logs "listening addr=<Addr()>"
//	          to stderr (standalone: its TCP address); see listenerHandler
//
// Handlers: /sid returns a new sid of this instance, /hang blocks, /badframe
// makes the worker send a malformed control message, anything else returns
// "instance=<id>".
func runFakeWorker(mode string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "fake worker:", err)
		os.Exit(1)
	}
	inst64, _ := strconv.ParseUint(os.Getenv("STICKYD_INSTANCE"), 10, 32)
	inst := uint32(inst64)
	if mode == "listener" {
		l, err := worker.Listen()
		if err != nil {
			fail(err)
		}
		fmt.Fprintf(os.Stderr, "fake worker: listening addr=%s\n", l.Addr())
		if err := worker.ServeListener(context.Background(), l, listenerHandler(inst)); err != nil {
			fail(err)
		}
		return
	}
	var resume chan os.Signal
	if mode == "stall" {
		resume = make(chan os.Signal, 1)
		signal.Notify(resume, syscall.SIGUSR1)
	}
	var secret [32]byte
	if _, err := hex.Decode(secret[:], []byte(os.Getenv("STICKYD_SECRET"))); err != nil {
		fail(err)
	}
	raw, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: os.Getenv("STICKYD_SOCKET"), Net: "unixpacket"})
	if err != nil {
		fail(err)
	}
	cc := ipc.NewControlConn(raw)
	if err := cc.Send(&ipc.Message{Type: ipc.MsgHello, Instance: inst, Secret: secret, PID: uint32(os.Getpid())}, -1); err != nil {
		fail(err)
	}
	if m, _, err := cc.Recv(); err != nil || m.Type != ipc.MsgWelcome || m.Instance != inst {
		fail(fmt.Errorf("no welcome: %v %v", m.Type, err))
	}
	fmt.Println("fake worker up")
	if mode == "crash" {
		os.Exit(3)
	}
	conns := make(chan net.Conn, 64)
	var received atomic.Uint64
	var sendMu sync.Mutex // serialises the raw malformed write with Send
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sid := r.URL.Query().Get("sid"); sid != "" {
			if id, ok := ipc.SIDInstance(sid); !ok || id != inst {
				handBack(cc, w, r)
				return
			}
		}
		switch r.URL.Path {
		case "/addr":
			fmt.Fprintf(w, "%s", r.RemoteAddr) // the client address the primary sent
		case "/sid":
			sid, _ := ipc.NewSID(inst)
			fmt.Fprintf(w, "%s", sid)
		case "/hang":
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			select {}
		case "/badframe":
			sendMu.Lock()
			raw.Write([]byte{0xee, 1, 2, 3})
			sendMu.Unlock()
		default:
			fmt.Fprintf(w, "instance=%d", inst)
		}
	})
	srv := &http.Server{Handler: h}
	go srv.Serve(&chanListener{conns: conns, addr: raw.LocalAddr()})
	if mode != "noready" {
		cc.Send(&ipc.Message{Type: ipc.MsgReady}, -1)
	}
	if resume != nil {
		<-resume
	}
	for {
		m, f, err := cc.Recv()
		if err != nil {
			os.Exit(0) // primary gone
		}
		switch m.Type {
		case ipc.MsgConn:
			c, err := net.FileConn(f)
			f.Close()
			if err != nil {
				continue
			}
			if n := received.Add(1); mode != "noload" {
				sendMu.Lock()
				cc.Send(&ipc.Message{Type: ipc.MsgLoad, Received: n}, -1)
				sendMu.Unlock()
			}
			if len(m.Prefix) > 0 {
				c = &prefixConn{Conn: c, r: bufio.NewReader(io.MultiReader(bytes.NewReader(m.Prefix), c))}
			}
			conns <- &addrConn{Conn: c, addr: m.Addr, id: m.ConnID}
		case ipc.MsgDrain:
			if mode == "nodrain" {
				continue
			}
			if mode == "lingerdrain" {
				cc.Close() // as the worker package does before it exits
				time.Sleep(300 * time.Millisecond)
			}
			os.Exit(0)
		}
	}
}

// listenerHandler is the handler of the "listener" fake worker: /sockopts
// reports the options of the connection's socket as the worker got it
// (TCP_NODELAY, SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT:
// "nodelay=1 keepalive=1 idle=15 intvl=15 cnt=9") and closes it; anything
// else returns "instance=<id>".
func listenerHandler(inst uint32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/sockopts" {
			fmt.Fprintf(w, "instance=%d", inst)
			return
		}
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		var opts string
		if sc, ok := c.(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil {
				rc.Control(func(fd uintptr) {
					get := func(level, opt int) int {
						v, err := unix.GetsockoptInt(int(fd), level, opt)
						if err != nil {
							return -1
						}
						return v
					}
					opts = fmt.Sprintf("nodelay=%d keepalive=%d idle=%d intvl=%d cnt=%d",
						get(unix.IPPROTO_TCP, unix.TCP_NODELAY), get(unix.SOL_SOCKET, unix.SO_KEEPALIVE),
						get(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE), get(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL),
						get(unix.IPPROTO_TCP, unix.TCP_KEEPCNT))
				})
			}
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(opts), opts)
	})
}

// handBack returns the connection of r to the primary with r's request
// head as prefix (GET requests only; enough for the tests).
func handBack(cc *ipc.ControlConn, w http.ResponseWriter, r *http.Request) {
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\n", r.Method, r.RequestURI, r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			head += k + ": " + v + "\r\n"
		}
	}
	head += "\r\n"
	buf := make([]byte, brw.Reader.Buffered())
	brw.Reader.Read(buf)
	prefix := append([]byte(head), buf...)
	var id uint64
	if ac, ok := c.(*addrConn); ok { // wrapped since the client-address change
		c, id = ac.Conn, ac.id
	}
	if pc, ok := c.(*prefixConn); ok {
		c = pc.Conn
	}
	sc, ok := c.(syscall.Conn) // a TCP conn, or a TLS relay's Unix socket
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		cc.Send(&ipc.Message{Type: ipc.MsgHandBack, ConnID: id, Prefix: prefix}, int(fd))
	})
}

type chanListener struct {
	conns chan net.Conn
	addr  net.Addr
}

func (l *chanListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l *chanListener) Close() error   { return nil }
func (l *chanListener) Addr() net.Addr { return l.addr }

type prefixConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// addrConn reports the client address of the hand-off message.
type addrConn struct {
	net.Conn
	addr string
	id   uint64 // the primary's connection id, named in a hand-back
}

func (c *addrConn) RemoteAddr() net.Addr { return addrString(c.addr) }

type addrString string

func (a addrString) Network() string { return "tcp" }
func (a addrString) String() string  { return string(a) }
