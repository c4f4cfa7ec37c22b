package primary

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/stickyd/stickyd/ipc"
	"golang.org/x/sys/unix"
)

// errNodeHandBack: a handle message from a Node worker that is not a
// hand-back stickyd's preload would send.
var errNodeHandBack = errors.New("primary: malformed hand-back from node worker")

// maxNodeHandBack bounds the request bytes of one Node hand-back (a
// request head and a polling body of up to Engine.IO's maxHttpBufferSize;
// the frame itself is bounded by nodeipc.MaxFrame).
const maxNodeHandBack = 32 << 20

// isHandBack reports whether v is a handle message of a Node worker
// ({cmd:"NODE_HANDLE"}), the only message that may carry an fd.
func isHandBack(v any) bool {
	obj, _ := v.(map[string]any)
	return obj != nil && obj["cmd"] == "NODE_HANDLE"
}

// parseNodeHandBack checks obj, a worker's {cmd:"NODE_HANDLE",
// type:"net.Native"|"net.Socket", msg:{type:"stickyd:handback",
// conn, data}}, and returns the connection id the primary sent the
// connection under (0 when unknown) and the request bytes the worker
// consumed (data, base64).
func parseNodeHandBack(obj map[string]any) (id uint64, prefix []byte, err error) {
	if t, _ := obj["type"].(string); t != "net.Native" && t != "net.Socket" {
		return 0, nil, fmt.Errorf("%w: handle type %q", errNodeHandBack, t)
	}
	msg, _ := obj["msg"].(map[string]any)
	if t, _ := msg["type"].(string); t != "stickyd:handback" {
		return 0, nil, fmt.Errorf("%w: message type %q", errNodeHandBack, t)
	}
	if n, ok := msg["conn"].(float64); ok && n >= 0 && n < 1<<53 {
		id = uint64(n)
	}
	data, _ := msg["data"].(string)
	if len(data) == 0 || base64.StdEncoding.DecodedLen(len(data)) > maxNodeHandBack {
		return 0, nil, fmt.Errorf("%w: %d bytes of data", errNodeHandBack, len(data))
	}
	prefix, err = base64.StdEncoding.DecodeString(data)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", errNodeHandBack, err)
	}
	return id, prefix, nil
}

// nodeHandBack takes a connection in's worker handed back: stickyd's
// preload does so, with the request bytes it consumed, when a kept-alive
// connection's next request names a session of another worker. The
// handle is acknowledged at once (Node holds the worker's later messages
// until then); the connection is then routed as a Go worker's hand-back
// (handBack, on a goroutine counted in connWG), its request bytes going
// first. A message that is not a hand-back, or comes without a socket,
// is logged and its fd closed. fd (or -1) is the message's handle; it is
// owned from here on.
func (s *Supervisor) nodeHandBack(in *instance, l *nodeLink, obj map[string]any, fd int, log hclog.Logger) {
	if err := l.conn.Send(map[string]any{"cmd": "NODE_HANDLE_ACK"}); err != nil {
		log.Debug("node channel write failed", "error", err)
	}
	id, prefix, err := parseNodeHandBack(obj)
	if err == nil {
		err = checkSocket(fd)
	}
	if err != nil {
		log.Warn("node worker handed back something stickyd cannot route; closed", "error", err)
		if fd >= 0 {
			unix.Close(fd)
		}
		return
	}
	f := os.NewFile(uintptr(fd), "client")
	s.connWG.Add(1)
	go func() {
		defer s.connWG.Done()
		s.handBack(in, ipc.Message{Type: ipc.MsgHandBack, ConnID: id, Prefix: prefix}, f)
	}()
}

// checkSocket reports an error unless fd is a stream socket.
func checkSocket(fd int) error {
	if fd < 0 {
		return fmt.Errorf("%w: no socket came with it", errNodeHandBack)
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil || typ != unix.SOCK_STREAM {
		return fmt.Errorf("%w: the handle is not a stream socket (%v)", errNodeHandBack, err)
	}
	return nil
}
