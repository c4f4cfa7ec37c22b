package primary

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/hub"
	"github.com/stickyd/stickyd/nodeipc"
	"golang.org/x/sys/unix"
)

// Worker kinds (Options.WorkerKind).
const (
	// WorkerKindGo: workers link package worker and talk stickyd's own
	// control and hub links.
	WorkerKindGo = "go"
	// WorkerKindNode: workers are unmodified Node apps using
	// @socket.io/sticky and @socket.io/cluster-adapter (docs/node.md).
	WorkerKindNode = "node"
	// WorkerKindAuto: node when the command is node, go otherwise.
	WorkerKindAuto = "auto"
)

// Node session ids (Options.NodeSIDs).
const (
	// NodeSIDsStickyd: the shim makes Engine.IO issue stickyd sids.
	NodeSIDsStickyd = "stickyd"
	// NodeSIDsRandom: Engine.IO's random sids, routed by the sid table.
	NodeSIDsRandom = "random"
)

// Defaults of the Node worker options.
const (
	// DefaultNodeAckTimeout bounds how long a Node worker may take to
	// acknowledge a handed-off connection before it is restarted.
	DefaultNodeAckTimeout = 5 * time.Second
	// DefaultSIDWait bounds how long a request with a sid no Node worker
	// has registered yet waits for the registration (see docs/node.md).
	DefaultSIDWait = 250 * time.Millisecond
)

// nodeCommand matches the names of Node's executable.
var nodeCommand = regexp.MustCompile(`^(node|nodejs)[0-9.]*(\.exe)?$`)

// ResolveWorkerKind returns the worker kind of argv for kind, one of the
// WorkerKind constants ("" is auto): auto is node when argv[0]'s base
// name is node or nodejs (with an optional version), go otherwise.
func ResolveWorkerKind(kind string, argv []string) (string, error) {
	switch kind {
	case WorkerKindGo, WorkerKindNode:
		return kind, nil
	case "", WorkerKindAuto:
		if len(argv) > 0 && nodeCommand.MatchString(filepath.Base(argv[0])) {
			return WorkerKindNode, nil
		}
		return WorkerKindGo, nil
	}
	return "", fmt.Errorf("%w: unknown worker kind %q (want go, node or auto)", ErrBadOptions, kind)
}

// nodeChannel makes a Node worker's IPC channel: a stream socket pair,
// the parent's end wrapped in a Conn, the child's end for the child's fd
// 3 (close it once the child has started).
func nodeChannel(mode nodeipc.Mode) (*nodeipc.Conn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("primary: node channel: %w", err)
	}
	parent := os.NewFile(uintptr(fds[0]), "node-channel")
	fc, err := net.FileConn(parent)
	parent.Close()
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("primary: node channel: %w", err)
	}
	return nodeipc.NewConn(fc.(*net.UnixConn), mode), os.NewFile(uintptr(fds[1]), "node-channel-child"), nil
}

// nodeEnv is the environment that makes Node open its IPC channel on fd 3,
// take itself for cluster worker id (never reused: the instance id) and
// preload stickyd's shim (nodeshim.js) after the NODE_OPTIONS of env.
func (s *Supervisor) nodeEnv(in *instance, env []string) []string {
	options := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "NODE_OPTIONS="); ok {
			options = v + " "
		}
	}
	return []string{
		"NODE_CHANNEL_FD=3",
		"NODE_CHANNEL_SERIALIZATION_MODE=" + s.nodeMode.String(),
		"NODE_UNIQUE_ID=" + strconv.FormatUint(uint64(in.id), 10),
		"NODE_OPTIONS=" + options + "--require " + strconv.Quote(s.shimPath),
		"STICKYD_NODE_SIDS=" + s.opts.NodeSIDs,
	}
}

// nodeShim is the preload of Node workers.
//
//go:embed nodeshim.js
var nodeShim []byte

// writeNodeShim writes the shim into the private socket directory dir.
func (s *Supervisor) writeNodeShim(dir string) error {
	s.shimPath = filepath.Join(dir, "node-shim.js")
	if err := os.WriteFile(s.shimPath, nodeShim, 0o600); err != nil {
		return fmt.Errorf("primary: node shim: %w", err)
	}
	return nil
}

// startNodeLink attaches conn, the channel of in's freshly started Node
// process p, as in's link and starts its reader, hand-off and writer
// goroutines. It reports false (and closes conn) during shutdown.
func (s *Supervisor) startNodeLink(in *instance, p *process, conn *nodeipc.Conn) bool {
	log := s.log.With("slot", in.slot, "instance", in.id)
	l := newNodeLink(conn, p, s.rerouteQueued, s.opts.NodeAckTimeout, log, func(acked bool) { s.handleAcked(in, acked) })
	s.routingMu.Lock()
	if s.closing || in.state == Gone {
		s.routingMu.Unlock()
		conn.Close()
		return false
	}
	in.link = l
	s.routingMu.Unlock()
	s.relay.Join(in.id, in.id, l)
	ok := s.nodeGoroutines.start(func() { s.readNode(in, l, log) })
	ok = ok && s.nodeGoroutines.start(l.handOff)
	ok = ok && s.nodeGoroutines.start(func() { l.writeAdapter(log) })
	if !ok {
		l.Close()
	}
	return ok
}

// handleAcked counts a hand-off's end for in's load.
func (s *Supervisor) handleAcked(in *instance, acked bool) {
	s.routingMu.Lock()
	if acked {
		in.received++
	} else if in.sent > in.received {
		in.sent--
	}
	s.changedLocked()
	s.routingMu.Unlock()
}

// readNode reads in's channel until it ends: online makes in Ready,
// handle answers go to the link (which sends the next handle), handles
// the worker hands back are routed again (nodeHandBack), @socket.io/sticky's
// session messages fill the sid table and cluster-adapter messages go to
// the relay. A message that does not decode, or holds a V8 value outside
// nodeipc's subset, is logged and skipped; a channel that fails (or is
// out of step) gets the worker killed, and its slot respawns it.
func (s *Supervisor) readNode(in *instance, l *nodeLink, log hclog.Logger) {
	defer l.readerDone()
	for {
		m, err := l.conn.Read()
		if nodeipc.Skippable(err) {
			log.Warn("node worker sent a message stickyd cannot read; skipped", "error", err, "bytes", len(m.Body))
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, nodeipc.ErrClosed) && !s.isClosing() {
				log.Error("node channel failed; restarting worker", "error", err)
				l.proc.Kill()
			}
			return
		}
		if m.FD >= 0 && !isHandBack(m.Value) { // (nodeipc gives fds to NODE_HANDLE messages only)
			unix.Close(m.FD)
		}
		s.handleNode(in, l, m, log)
	}
}

// handleNode acts on one message from in's Node worker.
func (s *Supervisor) handleNode(in *instance, l *nodeLink, m nodeipc.Message, log hclog.Logger) {
	obj, _ := m.Value.(map[string]any)
	if adapterMsg, ok := hub.IsAdapterMessage(m.Value); ok {
		s.relay.Relay(in.id, m.Body, adapterMsg)
		return
	}
	switch cmd, _ := obj["cmd"].(string); cmd {
	case "":
	case "NODE_HANDLE_ACK":
		l.answer(true)
		return
	case "NODE_HANDLE_NACK":
		l.answer(false)
		return
	case "NODE_HANDLE":
		s.nodeHandBack(in, l, obj, m.FD, log)
		return
	case "NODE_CLUSTER":
		switch act, _ := obj["act"].(string); act {
		case "online":
			log.Debug("node worker online; ready once its app has called setupWorker")
		case "queryServer":
			log.Error("node worker calls listen(); under stickyd workers take connections from @socket.io/sticky's setupWorker only", "message", obj)
		default:
			log.Debug("node cluster message ignored", "act", act)
		}
		return
	default:
		log.Warn("unexpected internal message from node worker; ignored (Node's IPC protocol may have changed)", "cmd", cmd)
		return
	}
	switch typ, _ := obj["type"].(string); typ {
	case "stickyd:ready":
		s.markReady(in)
	case "sticky:connection":
		if sid, ok := obj["data"].(string); ok && sid != "" {
			s.registerSID(in, sid)
		}
	case "sticky:disconnection":
		if sid, ok := obj["data"].(string); ok {
			s.unregisterSID(in, sid)
		}
	}
}

// rerouteQueued routes again fd, a connection queued for a Node worker
// whose link closed before it was handed over: its request is unread, so
// it takes the slow path like a fresh connection (during shutdown it is
// closed).
func (s *Supervisor) rerouteQueued(fd int) {
	var peer netip.AddrPort
	if sa, err := unix.Getpeername(fd); err == nil {
		peer = sockaddrAddrPort(sa)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return
	}
	s.log.Debug("connection queued for a Node worker that is gone; routing it again", "client", peer)
	s.serveSlow(newFileConn(fd), peer, s.opts.Metrics.now())
}
