//go:build linux && !stickyd_portable

// Idle websockets on Linux: no goroutine per idle connection. A reader
// that found nothing to read for the server's idleAfter (wsIdleAfter)
// parks its transport in the server's readPoller (an epoll instance of its
// own) and returns; when bytes arrive, the poller starts a new reader.
// readpoll_other.go is the path of every other OS (and of the
// stickyd_portable build tag): the reader stays, blocked in its read.
//
// # Concurrency
//
// readPoller's state is guarded by its mu; park and unpark are called
// with the transport's session mu held (lock order: session, poller), the
// poller's goroutine takes only its own mu and starts readers after
// releasing it.

package engineio

import (
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/stickyd/stickyd/internal/rawsys"
	"golang.org/x/sys/unix"
)

// readPoller waits for any parked websocket to become readable (or hung
// up) on one goroutine, blocked in epoll_wait(2), that exists only while a
// transport is parked; its epoll and eventfd descriptors exist as long.
// A parked socket is in the set level-triggered, and a socket is in the
// set only while it is parked or the poller holds it: the poller takes a
// readable one out of parked (not out of the set: no other event of it
// comes before the poller's next wait), reads it once, and either parks
// it again, still in the set (a lone pong: no system call), or takes it
// out of the set (EPOLL_CTL_DEL) before its reader starts. unpark takes a
// socket out of the set too.
type readPoller struct {
	mu      sync.Mutex
	parked  map[int32]*wsTransport // by fd; the fd stays open while parked (only the last reader closes it)
	epfd    int                    // valid while running
	wakefd  int                    // eventfd that makes the goroutine look at parked again
	running bool
	closed  bool   // the server closed: nothing parks any more
	gen     uint64 // of epfd, counted from 1; a transport whose pollGen is gen is in its set

	pongs  atomic.Uint64 // pongs read by the poller itself (takeParkedPong)
	rearms atomic.Uint64 // parks of a socket the poller left in the set (no epoll_ctl)
}

func newReadPoller() *readPoller { return &readPoller{parked: map[int32]*wsTransport{}} }

// park registers t, whose socket is fd, and reports true: t's reader may
// return, the poller starts the next one (t.resume) when fd is readable.
// It reports false, leaving t to its reader, when it cannot (closed, or a
// system call failed). The caller holds t.s.mu.
func (p *readPoller) park(t *wsTransport, fd int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.parked[int32(fd)] != nil {
		return false
	}
	if !p.running && !p.startLocked() {
		return false
	}
	if !p.armLocked(t, fd) {
		return false
	}
	p.parked[int32(fd)] = t
	return true
}

// armLocked puts fd in the set, level-triggered, unless it is there
// already (the poller left it there: t.pollGen is the set's gen).
func (p *readPoller) armLocked(t *wsTransport, fd int) bool {
	if t.pollGen == p.gen {
		p.rearms.Add(1)
		return true
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}
	err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	if err == unix.EEXIST { // not expected: a socket leaves the set before its reader starts
		err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
	}
	if err != nil {
		t.pollGen = 0
		return false
	}
	t.pollGen = p.gen
	return true
}

// unpark removes t (parked on fd) and reports whether it was parked: the
// caller then starts its reader. The caller holds t.s.mu.
func (p *readPoller) unpark(t *wsTransport, fd int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.parked[int32(fd)] != t {
		return false
	}
	p.removeLocked(t, fd)
	return true
}

// removeLocked forgets t, parked on fd, and takes fd out of the set.
func (p *readPoller) removeLocked(t *wsTransport, fd int) {
	p.dropLocked(t, fd)
	p.forgetLocked(fd)
}

// dropLocked takes fd, t's socket, out of the set if it is there.
func (p *readPoller) dropLocked(t *wsTransport, fd int) {
	if t.pollGen == p.gen {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
	t.pollGen = 0
}

// release takes fd, t's socket, which the poller holds (taken from
// parked, left in the set), out of the set: its reader may start.
func (p *readPoller) release(t *wsTransport, fd int) {
	p.mu.Lock()
	p.dropLocked(t, fd)
	p.mu.Unlock()
}

// forgetLocked forgets fd, which stays in the set if it is (the poller
// holds it: it parks it again or releases it before its next wait); the
// goroutine is woken to end when nothing is parked any more.
func (p *readPoller) forgetLocked(fd int) {
	delete(p.parked, int32(fd))
	if len(p.parked) == 0 {
		p.wakeLocked()
	}
}

func (p *readPoller) wakeLocked() {
	one := [8]byte{1}
	_, _ = unix.Write(p.wakefd, one[:])
}

// close makes park refuse from now on and wakes every parked transport's
// reader.
func (p *readPoller) close() {
	p.mu.Lock()
	p.closed = true
	var woken []*wsTransport
	for fd, t := range p.parked {
		p.removeLocked(t, int(fd))
		woken = append(woken, t)
	}
	p.mu.Unlock()
	for _, t := range woken {
		t.resume()
	}
}

// startLocked opens the epoll and eventfd descriptors and starts the
// goroutine.
func (p *readPoller) startLocked() bool {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return false
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return false
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}
	if unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev) != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return false
	}
	p.epfd, p.wakefd, p.running = epfd, wakefd, true
	p.gen++
	go p.run(epfd, wakefd)
	return true
}

// run waits for parked sockets and starts the reader of each that is
// readable; it ends, closing its descriptors, once nothing is parked.
func (p *readPoller) run(epfd, wakefd int) {
	events := make([]unix.EpollEvent, 128)
	var ready []*wsTransport
	for {
		n, err := unix.EpollWait(epfd, events, -1)
		if err != nil && err != unix.EINTR {
			p.failed() // not expected: wake everyone, end
			return
		}
		p.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			if ev.Fd == int32(wakefd) {
				var b [8]byte
				_, _ = unix.Read(wakefd, b[:])
				continue
			}
			if t := p.parked[ev.Fd]; t != nil {
				p.forgetLocked(int(ev.Fd)) // held: parked again or released below
				ready = append(ready, t)
			}
		}
		p.mu.Unlock()
		for i, t := range ready {
			ready[i] = nil
			if !t.takeParkedPong() { // it parks again when it took a pong
				p.release(t, t.fd)
				t.resume()
			}
		}
		ready = ready[:0]
		p.mu.Lock()
		done := len(p.parked) == 0
		if done {
			p.running = false
			unix.Close(epfd)
			unix.Close(wakefd)
		}
		p.mu.Unlock()
		if done {
			return
		}
	}
}

// pongFrame is the length of a client's Engine.IO pong over websocket: a
// masked text frame (FIN, opcode 1), payload length 1, the 4-byte mask,
// then "3" masked.
const pongFrame = 7

// takeParkedPong handles, on the poller's goroutine, a parked websocket
// woken by what an idle client sends every pingInterval: one Engine.IO
// pong and nothing else. It reads the socket once (at most 8 bytes); a
// pong re-arms the ping (as Socket.onPacket does) and t parks again,
// reporting true: no reader goroutine starts. Other bytes (another frame,
// a pong with more behind it) wait in t's connReader, where a reader
// finds them before the rest of the socket; an end of stream or an error
// is the reader's to find too (false). t was just taken off the poller,
// so its fd is open (only a reader closes it) and nothing else reads it.
func (t *wsTransport) takeParkedPong() bool {
	var b [pongFrame + 1]byte
	n, errno := rawsys.Read(t.fd, b[:])
	if errno != 0 || n <= 0 {
		return false // nothing (a spurious wake), the end of the stream or an error: a reader sees it
	}
	if n != pongFrame || b[0] != 0x81 || b[1] != 0x81 || b[6]^b[2] != typePong {
		t.in.hold(b[:n]) // a reader reads these first
		return false
	}
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.closed || s.ws != t || s.state != stateOpen {
		t.in.hold(b[:n])
		return false
	}
	s.schedulePingLocked()
	p := s.srv.readPoll
	p.pongs.Add(1)
	if !p.park(t, t.fd) {
		p.release(t, t.fd)
		t.parked = false
		go t.read()
	}
	return true
}

// failed ends the goroutine after an epoll error: every parked transport
// gets its reader back, and the next park starts anew.
func (p *readPoller) failed() {
	p.mu.Lock()
	var woken []*wsTransport
	for fd, t := range p.parked {
		delete(p.parked, fd)
		woken = append(woken, t)
	}
	p.running = false
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
	p.mu.Unlock()
	for _, t := range woken {
		t.resume()
	}
}

// socketFD returns the fd of rc's socket (-1 if rc is nil): the key of a
// parked transport. The fd is valid while the connection is open.
func socketFD(rc syscall.RawConn) int {
	fd := -1
	if rc != nil {
		_ = rc.Control(func(f uintptr) { fd = int(f) })
	}
	return fd
}

// ParksIdleWebSockets reports whether this build parks idle websockets:
// true on Linux (without the stickyd_portable tag), where an idle websocket
// holds no goroutine, only its registration in the server's epoll set.
const ParksIdleWebSockets = true
