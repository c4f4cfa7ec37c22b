package hub

import "github.com/stickyd/stickyd/ipc"

// Hub is what the primary hands authenticated hub links to: the primary
// accepts the hub socket, checks each link's Hello (uid and the instance's
// secret) and passes the link on. Server is the implementation; Nop
// refuses every link.
type Hub interface {
	// Serve takes ownership of fc, the authenticated hub link of instance
	// (its Hello frame consumed), and must close it eventually. The
	// primary calls it on its own goroutine; it may block until the link
	// ends.
	Serve(instance uint32, fc *ipc.FrameConn)
	// WorkerGone reports that instance's process has exited (called once
	// per instance, also for instances that never opened a hub link).
	WorkerGone(instance uint32)
}

// Nop is a Hub that closes every link at once: workers then serve alone.
type Nop struct{}

var _ Hub = Nop{}

// Serve closes fc.
func (Nop) Serve(_ uint32, fc *ipc.FrameConn) { fc.Close() }

// WorkerGone does nothing.
func (Nop) WorkerGone(uint32) {}
