package worker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
	"github.com/stickyd/stickyd/ipc"
)

func TestAcceptPrefixAndRemoteAddr(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 5, nil)
	l := p.listen(t)
	if got, want := l.Managed(), true; got != want {
		t.Fatalf("Managed() = %v", got)
	}
	if l.Instance() != 5 || l.WorkerID() != 3 || l.Generation() != 2 || l.HubPath() != p.getenv(EnvHubSocket) {
		t.Fatalf("instance %d worker %d generation %d hub %q", l.Instance(), l.WorkerID(), l.Generation(), l.HubPath())
	}
	if err := l.Ready(); err != nil {
		t.Fatal(err)
	}
	p.next(t, ipc.MsgReady)

	cli, id := p.dial(t, []byte("GET /x HTTP/1.1\r\n"))
	if _, err := cli.Write([]byte("Host: a\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := nc.(*Conn)
	if got, want := c.ID(), id; got != want {
		t.Fatalf("ID() = %d, want %d", got, want)
	}
	if got, want := c.RemoteAddr().String(), cli.LocalAddr().String(); got != want {
		t.Fatalf("RemoteAddr() = %s, want %s", got, want)
	}
	if _, ok := c.RemoteAddr().(*net.TCPAddr); !ok {
		t.Fatalf("RemoteAddr is %T, want *net.TCPAddr", c.RemoteAddr())
	}
	if got, want := c.LocalAddr().String(), cli.RemoteAddr().String(); got != want {
		t.Fatalf("LocalAddr() = %s, want %s", got, want)
	}
	// Small reads split the prefix; the socket's bytes follow it.
	var got []byte
	buf := make([]byte, 5)
	for len(got) < len("GET /x HTTP/1.1\r\nHost: a\r\n\r\n") {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if want := "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"; string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
	if _, err := c.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 2)
	if _, err := io.ReadFull(cli, b); err != nil || string(b) != "hi" {
		t.Fatalf("client read %q, %v", b, err)
	}
}

func TestHandshakeErrors(t *testing.T) {
	tests := []struct {
		name    string
		welcome func(ipc.Message) *ipc.Message
		env     map[string]string
		want    error
	}{
		{"primary closes", func(ipc.Message) *ipc.Message { return nil }, nil, ErrHandshake},
		{"wrong instance", func(ipc.Message) *ipc.Message { return &ipc.Message{Type: ipc.MsgWelcome, Instance: 99} }, nil, ErrHandshake},
		{"wrong type", func(ipc.Message) *ipc.Message { return &ipc.Message{Type: ipc.MsgDrain} }, nil, ErrHandshake},
		{"bad secret", nil, map[string]string{EnvSecret: "zz"}, ErrEnv},
		{"short secret", nil, map[string]string{EnvSecret: "abcd"}, ErrEnv},
		{"no instance", nil, map[string]string{EnvInstance: ""}, ErrEnv},
		{"instance 0", nil, map[string]string{EnvInstance: "0"}, ErrEnv},
		{"bad worker id", nil, map[string]string{EnvWorkerID: "x"}, ErrEnv},
		{"no socket file", nil, map[string]string{EnvSocket: "/nonexistent/ctl.sock"}, ErrHandshake},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testutil.CheckNoLeaks(t, leakWait)
			p := newFakePrimary(t, 4, tt.welcome)
			for k, v := range tt.env {
				p.env[k] = v
			}
			l, err := ListenOptions(Options{Getenv: p.getenv, HandshakeTimeout: 2 * time.Second})
			if !errors.Is(err, tt.want) {
				if l != nil {
					l.Close()
				}
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestLoadReports(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 6, nil)
	l := p.listen(t)
	cli, _ := p.dial(t, nil)
	p.waitLoad(t, func(m ipc.Message) error {
		if m.Conns != 1 || m.Received != 1 {
			return fmt.Errorf("load %+v, want 1 conn received", m)
		}
		return nil
	})
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		l.SessionOpened()
	}
	n := 0
	p.waitLoad(t, func(m ipc.Message) error {
		n++
		if m.Sessions != 100 {
			return fmt.Errorf("load %+v, want 100 sessions", m)
		}
		return nil
	})
	if n > 50 {
		t.Fatalf("%d load messages for 100 changes: not coalesced", n)
	}
	l.SessionClosed()
	c.Close()
	cli.Close()
	p.waitLoad(t, func(m ipc.Message) error {
		if m.Conns != 0 || m.Sessions != 99 || m.Received != 1 {
			return fmt.Errorf("load %+v, want 0 conns, 99 sessions", m)
		}
		return nil
	})
	// Nothing changed: a kick sends nothing.
	l.kickLoad()
	l.Ready()
	if r := p.next(t, ipc.MsgReady); r.Msg.Type != ipc.MsgReady {
		t.Fatal("no ready")
	}
	select {
	case r := <-p.msgs:
		t.Fatalf("unexpected %s %+v with unchanged counts", r.Msg.Type, r.Msg)
	case <-time.After(20 * time.Millisecond):
	}
}

func TestPrimaryGoneExits(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 7, nil)
	l := p.listen(t)
	if got, want := l.opts.ExitDelay, 500*time.Millisecond; got != want {
		t.Fatalf("default ExitDelay %v, want %v", got, want)
	}
	acceptErr := make(chan error, 1)
	go func() { _, err := l.Accept(); acceptErr <- err }()
	start := time.Now()
	p.CloseLink()
	select {
	case <-l.Draining():
	case <-time.After(5 * time.Second):
		t.Fatal("Draining not closed after the primary went away")
	}
	// The worker exits at the drain deadline it announces, within 1 s.
	if d := l.DrainDeadline(); d.Before(start) || d.After(time.Now().Add(time.Second)) {
		t.Fatalf("DrainDeadline %v, want within 1s", d.Sub(start))
	}
	select {
	case code := <-p.exited:
		if code != 1 {
			t.Fatalf("exit code %d, want 1", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("exit func not called")
	}
	if err := <-acceptErr; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept: got %v, want net.ErrClosed", err)
	}
}

func TestExitDelayCapped(t *testing.T) {
	p := newFakePrimary(t, 15, nil)
	l, err := ListenOptions(Options{Getenv: p.getenv, ExitDelay: time.Minute, Exit: func(int) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got, want := l.opts.ExitDelay, time.Second; got != want {
		t.Fatalf("ExitDelay %v, want capped at %v", got, want)
	}
}

func TestDrain(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 8, nil)
	l := p.listen(t)
	before := time.Now()
	p.send(t, &ipc.Message{Type: ipc.MsgDrain, DeadlineMS: 1500})
	select {
	case <-l.Draining():
	case <-time.After(5 * time.Second):
		t.Fatal("Draining not closed")
	}
	d := l.DrainDeadline()
	if d.Before(before.Add(1500*time.Millisecond)) || d.After(time.Now().Add(1500*time.Millisecond)) {
		t.Fatalf("DrainDeadline %v, want about %v", d, before.Add(1500*time.Millisecond))
	}
	select {
	case code := <-p.exited:
		t.Fatalf("exit(%d) on drain", code)
	default:
	}
}

// TestCloseHandsBackQueued checks that Close hands queued connections back
// with their prefix and closes the link once none is left.
func TestCloseHandsBackQueued(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 9, nil)
	l := p.listen(t)
	p.dial(t, nil)
	kept, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	cli, id := p.dial(t, []byte("GET /queued HTTP/1.1\r\n"))
	p.waitLoad(t, func(m ipc.Message) error {
		if m.Received != 2 {
			return errors.New("not received yet")
		}
		return nil
	})
	l.Close()
	r := p.next(t, ipc.MsgHandBack)
	if r.Msg.ConnID != id || string(r.Msg.Prefix) != "GET /queued HTTP/1.1\r\n" || r.File == nil {
		t.Fatalf("hand back %+v, fd %v", r.Msg, r.File)
	}
	c, err := net.FileConn(r.File)
	r.File.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("via primary")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 11)
	if _, err := io.ReadFull(cli, buf); err != nil || string(buf) != "via primary" {
		t.Fatalf("client read %q, %v", buf, err)
	}
	// While an accepted conn is open the link stays up, and a conn handed
	// off after Close goes straight back.
	_, id2 := p.dial(t, nil)
	if r := p.next(t, ipc.MsgHandBack); r.Msg.ConnID != id2 {
		t.Fatalf("hand back %+v, want conn %d", r.Msg, id2)
	} else {
		r.File.Close()
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v", err)
	}
	select {
	case <-l.Draining():
	default:
		t.Fatal("Draining open after Close")
	}
	kept.Close()
	p.waitClosed(t) // the link closes with the last conn
	l.mu.Lock()
	lost := l.lost
	l.mu.Unlock()
	if lost {
		t.Fatal("our own Close was taken for the primary going away")
	}
}

func TestStandalone(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	env := map[string]string{"HOST": "127.0.0.1", "PORT": "0"}
	l, err := ListenOptions(Options{Getenv: func(k string) string { return env[k] }, Exit: func(int) { t.Error("exit called") }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Managed() || l.Instance() != 0 || l.HubPath() != "" || l.Ready() != nil {
		t.Fatal("standalone Listener reports managed state")
	}
	sid, err := l.GenerateID(nil)
	if inst, ok := ipc.SIDInstance(sid); err != nil || !ok || inst != 0 {
		t.Fatalf("GenerateID = %q, %v: want instance 0", sid, err)
	}
	if _, err := l.DialHub(); !errors.Is(err, ErrNotManaged) {
		t.Fatalf("DialHub: %v", err)
	}
	srv := &http.Server{Handler: l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "standalone")
	}))}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	other, _ := ipc.NewSID(42)
	resp, err := http.Get("http://" + l.Addr().String() + "/?sid=" + other)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "standalone" {
		t.Fatalf("body %q", body)
	}
	http.DefaultClient.CloseIdleConnections()
	select {
	case <-l.Draining():
		t.Fatal("Draining closed before Close")
	default:
	}
	srv.Close()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		t.Fatal(err)
	}
	<-l.Draining()
}

func TestStandaloneDefaultPort(t *testing.T) {
	if got, want := standaloneAddr(func(string) string { return "" }), ":3000"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// serveWorker runs an http.Server on l with l.Handler(h).
func serveWorker(t testing.TB, l *Listener, h http.Handler) {
	t.Helper()
	srv := &http.Server{Handler: l.Handler(h)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		<-errc
	})
}

// readResponse reads one response from br.
func readResponse(t testing.TB, br *bufio.Reader) (int, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

var echoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "worker %s %s %d", r.Method, r.URL.Query().Get("sid"), len(b))
})

func TestPassThrough(t *testing.T) {
	testutil.CheckNoLeaks(t, leakWait)
	p := newFakePrimary(t, 10, nil)
	l := p.listen(t)
	serveWorker(t, l, echoHandler)
	own, _ := l.GenerateID(nil)
	if inst, _ := ipc.SIDInstance(own); inst != 10 {
		t.Fatalf("GenerateID instance %d", inst)
	}
	other, _ := ipc.NewSID(11)
	tests := []struct {
		name, target string
		want         string
	}{
		{"no sid", "/engine.io/?EIO=4", "worker GET  0"},
		{"own sid", "/engine.io/?sid=" + own, "worker GET " + own + " 0"},
		{"js sid", "/engine.io/?sid=AAAAAAAAAAAAAAAAAAAA", "worker GET AAAAAAAAAAAAAAAAAAAA 0"},
		{"xsid", "/engine.io/?xsid=" + other, "worker GET  0"},
	}
	cli, _ := p.dial(t, nil)
	br := bufio.NewReader(cli)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fmt.Fprintf(cli, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", tt.target)
			code, body := readResponse(t, br)
			if code != 200 || body != tt.want {
				t.Fatalf("got %d %q, want 200 %q", code, body, tt.want)
			}
		})
	}
}
