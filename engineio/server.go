package engineio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"
)

// Server is an Engine.IO v4 server: an http.Handler serving Options.Path.
// All methods are safe for concurrent use.
type Server struct {
	opts     Options
	logger   hclog.Logger
	upgrader websocket.Upgrader

	mu       sync.RWMutex
	sockets  map[string]*Socket
	handlers []func(*Socket)

	refusing atomic.Bool   // after Close/Shutdown: handshakes get 503
	removed  chan struct{} // signalled (non-blocking) when a session is removed
	flush    *flusher      // writes websockets off their callers' goroutines
	readPoll *readPoller   // waits for idle websockets without their readers (Linux)
	clock    time.Time     // the server's start: monotonic base of clockNow

	idleAfter time.Duration // a websocket idle this long parks (wsIdleAfter; tests shorten it)
	beatGrain int64         // heartbeats fall due on multiples of it (clockNow ns; beatGrainOf)

	// Read buffers, held only while bytes are read: an idle connection
	// holds none.
	readChunks sync.Pool // *[]byte of wsReadChunk: what websockets' connReaders read the socket into
	msgBufs    sync.Pool // *[]byte, cap 1 KB and up: what websocket messages are gathered in (readMessage)
}

// wsIdleAfter is how long a websocket reader waits for the next message
// before it parks the connection and ends (Linux; see readPoller): a busy
// connection keeps its reader, an idle one holds no goroutine.
const wsIdleAfter = time.Second

// beatGrainOf is the grid the heartbeats of a server with pingInterval
// fall due on (Socket.armHeartbeatLocked): pingInterval/250, at most
// 100 ms (100 ms at the default 25 s), for intervals of at least
// beatGridFrom; shorter intervals get none (a grain of 1 ns: exact
// timers). At 50,000 idle sessions the grid cut the server's context
// switches from about 5,000 a second to about 800. With a 1.2 ms grain
// (pingInterval 300 ms) the official socket.io-protocol suite failed 13
// runs in 122, against 1 in 85 with exact timers (a ping missing, or
// before the auth event; the cause is not found), hence beatGridFrom.
func beatGrainOf(pingInterval time.Duration) time.Duration {
	if pingInterval < beatGridFrom {
		return 1
	}
	return min(pingInterval/250, 100*time.Millisecond)
}

// beatGridFrom is the shortest pingInterval whose heartbeats fall due on
// a grid (beatGrainOf).
const beatGridFrom = 5 * time.Second

var _ http.Handler = (*Server)(nil)

// clockNow is monotonic time since the server started, in nanoseconds:
// an int64 that wall-clock steps do not move.
func (s *Server) clockNow() int64 { return int64(time.Since(s.clock)) }

// NewServer returns a Server configured by opts (defaults filled in).
func NewServer(opts Options) *Server {
	o := opts.withDefaults()
	s := &Server{
		clock:   time.Now(),
		opts:    o,
		logger:  o.Logger,
		sockets: make(map[string]*Socket),
		removed: make(chan struct{}, 1),
		flush:   newFlusher(runtime.GOMAXPROCS(0)),

		readPoll:  newReadPoller(),
		idleAfter: wsIdleAfter,
		beatGrain: int64(beatGrainOf(o.PingInterval)),
	}
	s.upgrader = websocket.Upgrader{
		// CORS does not apply to websockets; Node's engine.io does not check.
		CheckOrigin: func(*http.Request) bool { return true },
		// The read buffer is ours (ownReader; newWSTransport makes it
		// wsFrameBufSize over a connReader on Linux); write buffers only
		// while writing: an idle connection holds no write buffer.
		WriteBufferPool: &sync.Pool{},
	}
	s.readChunks.New = func() any { b := make([]byte, wsReadChunk); return &b }
	s.msgBufs.New = func() any { b := make([]byte, 0, 1024); return &b }
	return s
}

// Options returns the options in use, defaults filled in.
func (s *Server) Options() Options { return s.opts }

// OnConnection adds a handler for new sessions. Handlers run synchronously,
// in registration order, on the handshake request's goroutine, before the
// handshake response is written; frames they write travel with it.
func (s *Server) OnConnection(fn func(*Socket)) {
	s.mu.Lock()
	s.handlers = append(s.handlers, fn)
	s.mu.Unlock()
}

// ClientsCount returns the number of open sessions.
func (s *Server) ClientsCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sockets)
}

// Socket returns the open session with id sid, or nil.
func (s *Server) Socket(sid string) *Socket {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sockets[sid]
}

func (s *Server) snapshot() []*Socket {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Socket, 0, len(s.sockets))
	for _, so := range s.sockets {
		out = append(out, so)
	}
	return out
}

// Close closes every session at once with reason "forced close" (a pending
// poll gets a close packet, a websocket a close frame; queued frames are
// discarded, as Node's close()) and from then on refuses handshakes with
// 503 {"code":3,"message":"Server shutting down"}. Requests for sessions
// still closing are served. Close callbacks run on the calling goroutine.
// It always returns nil.
func (s *Server) Close() error {
	s.stopAccepting()
	for _, so := range s.snapshot() {
		so.terminate(ReasonForcedClose, nil)
	}
	s.readPoll.close()
	return nil
}

// ShutdownPollGrace is how long Shutdown lets a long-polling session fetch
// its close packet: a polling client normally has a GET pending or sends
// the next one at once; one that does not is closed without it.
const ShutdownPollGrace = time.Second

// Shutdown refuses new handshakes (503, as Close), closes every session
// gracefully with reason "server shutting down" (queued frames are sent
// first) and waits until all sessions are closed or ctx is done. Polling
// sessions that have not fetched their close packet within
// ShutdownPollGrace are closed without it. On ctx done it closes the
// remaining sessions at once and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	defer s.readPoll.close()
	for _, so := range s.snapshot() {
		so.closeGraceful(ReasonShutdown)
	}
	grace := time.NewTimer(ShutdownPollGrace)
	defer grace.Stop()
	for s.ClientsCount() > 0 {
		select {
		case <-grace.C:
			for _, so := range s.snapshot() {
				if so.Transport() == TransportPolling {
					so.terminate(ReasonShutdown, nil)
				}
			}
		case <-s.removed:
		case <-ctx.Done():
			for _, so := range s.snapshot() {
				so.terminate(ReasonShutdown, ctx.Err())
			}
			return ctx.Err()
		}
	}
	return nil
}

// register adds so to the live sessions. It fails with errRefusing after
// Close/Shutdown (checked under mu, so Close's snapshot misses no session)
// and with errDuplicateID if the id is taken.
func (s *Server) register(so *Socket) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refusing.Load() {
		return errRefusing
	}
	if _, dup := s.sockets[so.id]; dup {
		return errDuplicateID
	}
	s.sockets[so.id] = so
	return nil
}

var (
	errRefusing    = errors.New("engineio: server closed to new sessions")
	errDuplicateID = errors.New("engineio: duplicate session id")
)

// stopAccepting makes register refuse from now on.
func (s *Server) stopAccepting() {
	s.mu.Lock()
	s.refusing.Store(true)
	s.mu.Unlock()
}

func (s *Server) remove(so *Socket) {
	s.mu.Lock()
	if s.sockets[so.id] == so {
		delete(s.sockets, so.id)
	}
	s.mu.Unlock()
	select {
	case s.removed <- struct{}{}:
	default:
	}
}

// ServeHTTP serves Engine.IO requests on Options.Path (other paths get 404).
// It checks a request as Node's engine.io verify() does, in the same order:
// transport, Origin header, sid (or handshake method, websocket without
// upgrade, AllowRequest), then the EIO version and id generation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != s.opts.Path {
		http.NotFound(w, r)
		return
	}
	if applyCORS(s.opts.CORS, w, r) {
		return
	}
	q := parseRequestParams(r.URL.RawQuery)
	upgrade := isUpgradeRequest(r)
	fail := func(code int, msg string) {
		s.logger.Debug("request refused", "code", code, "message", codeMessages[code], "url", r.URL.String())
		if upgrade {
			writeUpgradeError(w, code, msg)
		} else {
			writeRequestError(w, code, msg)
		}
	}
	transport := q.transport
	if !s.opts.hasTransport(transport) {
		fail(CodeUnknownTransport, "")
		return
	}
	if invalidHeaderValue(r.Header.Get("Origin")) {
		fail(CodeBadRequest, "")
		return
	}
	if sid := q.sid; sid != "" {
		so := s.Socket(sid)
		if so == nil {
			fail(CodeUnknownSID, "")
			return
		}
		if upgrade {
			s.serveUpgrade(w, r, so, transport)
			return
		}
		if so.Transport() != transport {
			fail(CodeBadRequest, "")
			return
		}
		switch r.Method {
		case http.MethodGet:
			so.serveGet(w, r, false)
		case http.MethodPost:
			so.servePost(w, r)
		default:
			writeEmpty(w, http.StatusInternalServerError)
		}
		return
	}
	if r.Method != http.MethodGet {
		fail(CodeBadHandshakeMethod, "")
		return
	}
	if transport == TransportWebSocket && !upgrade {
		fail(CodeBadRequest, "")
		return
	}
	if s.opts.AllowRequest != nil {
		if err := s.opts.AllowRequest(r); err != nil {
			fail(CodeForbidden, err.Error())
			return
		}
	}
	if s.refusing.Load() {
		s.refuse(w, upgrade)
		return
	}
	if q.eio != "4" {
		fail(CodeUnsupportedProtocol, "")
		return
	}
	id, err := s.opts.GenerateID(r)
	if err != nil || id == "" {
		s.logger.Warn("id generation failed", "error", err)
		fail(CodeBadRequest, "")
		return
	}
	so := newSocket(s, id, r)
	if transport == TransportPolling {
		if upgrade { // Node: polling does not handle upgrades
			s.rejectUpgrade(w, r)
			return
		}
		so.poll = &pollTransport{s: so}
		if err := s.register(so); err == errRefusing {
			s.refuse(w, false)
			return
		} else if err != nil {
			fail(CodeBadRequest, "")
			return
		}
		s.open(so)
		so.serveGet(w, r, true)
		return
	}
	ow := &ownReader{ResponseWriter: w}
	conn, err := s.upgrader.Upgrade(ow, r, w.Header())
	if err != nil {
		s.logger.Debug("websocket handshake failed", "error", err)
		return // the upgrader answered
	}
	t := newWSTransport(so, conn, ow.br)
	so.ws = t
	if err := s.register(so); err != nil {
		rejectWebSocket(conn)
		return
	}
	s.open(so)
	// The reader gets its own small goroutine so that net/http's
	// per-connection buffers held by this handler are released.
	go t.readLoop(false)
}

// refuse answers a handshake after Close/Shutdown: 503, with a JSON body
// {"code":3,"message":"Server shutting down"} (text for an upgrade).
func (s *Server) refuse(w http.ResponseWriter, upgrade bool) {
	if upgrade {
		writeUpgradeStatus(w, http.StatusServiceUnavailable, shutdownMessage)
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, errorBody(CodeBadRequest, shutdownMessage))
}

// serveUpgrade handles a websocket request for an existing session.
func (s *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, so *Socket, transport string) {
	if transport != TransportWebSocket || s.opts.DisableUpgrades {
		s.rejectUpgrade(w, r)
		return
	}
	ow := &ownReader{ResponseWriter: w}
	conn, err := s.upgrader.Upgrade(ow, r, w.Header())
	if err != nil {
		return
	}
	t := newWSTransport(so, conn, ow.br)
	if !so.beginUpgrade(t) {
		rejectWebSocket(conn)
		return
	}
	go t.readLoop(true)
}

// rejectUpgrade completes a websocket handshake and closes it at once, as
// Node does for upgrades it will not use.
func (s *Server) rejectUpgrade(w http.ResponseWriter, r *http.Request) {
	conn, err := s.upgrader.Upgrade(w, r, w.Header())
	if err != nil {
		return
	}
	rejectWebSocket(conn)
}

// open starts a registered session: ping timer, open packet, callbacks and
// handlers, then releases the queue.
func (s *Server) open(so *Socket) {
	so.mu.Lock()
	so.holdQueue = true
	so.schedulePingLocked() // before the handshake goes out
	so.queue = append(so.queue, s.openFrame(so))
	so.mu.Unlock()
	s.logger.Debug("session opened", "sid", so.id, "transport", so.Transport())
	if fn := s.opts.OnSessionOpen; fn != nil {
		fn(so.id)
	}
	s.mu.RLock()
	handlers := s.handlers
	s.mu.RUnlock()
	for _, h := range handlers {
		h(so)
	}
	so.mu.Lock()
	so.holdQueue = false
	so.flushUnlock()
}

// openFrame builds the open packet:
// {"sid":..,"upgrades":[..],"pingInterval":..,"pingTimeout":..,"maxPayload":..}.
func (s *Server) openFrame(so *Socket) *Frame {
	upgrades := []string{}
	if so.ws == nil && !s.opts.DisableUpgrades && s.opts.hasTransport(TransportWebSocket) {
		upgrades = append(upgrades, TransportWebSocket)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int64    `json:"maxPayload"`
	}{so.id, upgrades, s.opts.PingInterval.Milliseconds(), s.opts.PingTimeout.Milliseconds(), s.opts.MaxHTTPBufferSize})
	return newControlFrame(typeOpen, strings.TrimSuffix(b.String(), "\n"))
}

// isUpgradeRequest reports whether r asks for a protocol upgrade (what
// makes Node emit "upgrade" rather than "request").
func isUpgradeRequest(r *http.Request) bool {
	if r.Header.Get("Upgrade") == "" {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// invalidHeaderValue reports whether v has a character Node rejects in a
// header value (controls other than HTAB, and DEL).
func invalidHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return true
		}
	}
	return false
}
