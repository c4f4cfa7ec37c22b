package primary

import (
	"errors"
	"time"

	"github.com/stickyd/stickyd/ipc"
)

// send queues one frame to dst without blocking, keeping dst's order: into
// dst's FrameConn while it has room and nothing is waiting, else into the
// overflow queue, drained by a flush goroutine. A volatile frame that does
// not fit in the FrameConn is dropped. It reports whether dst's overflow is
// over HubOverflowLimit (the caller should holdBack once it holds no lock).
func (h *RoomHub) send(dst *hubLink, typ byte, p []byte, volatile bool) (congested bool) {
	dst.omu.Lock()
	defer dst.omu.Unlock()
	if dst.oclosed {
		return false
	}
	h.metrics.hubFrame(typ, len(p), hubOut)
	if len(dst.overflow) == 0 {
		err := dst.fc.TryWriteFrame(typ, p)
		if err == nil || !errors.Is(err, ipc.ErrQueueFull) {
			return false // ErrClosed: the link is going away; its Serve removes it
		}
	}
	if volatile {
		h.log.Trace("volatile frame dropped for a full queue", "instance", dst.id)
		h.metrics.hubVolatileDropped()
		return false
	}
	f := make([]byte, 1+len(p))
	f[0] = typ
	copy(f[1:], p)
	dst.overflow = append(dst.overflow, f)
	dst.obytes += len(f)
	if !dst.flushing {
		dst.flushing = true
		go h.flush(dst)
	}
	return dst.obytes > HubOverflowLimit
}

// flush moves dst's overflow into its FrameConn, in order, waiting for room.
func (h *RoomHub) flush(dst *hubLink) {
	dst.omu.Lock()
	defer dst.omu.Unlock()
	for len(dst.overflow) > 0 && !dst.oclosed {
		f := dst.overflow[0]
		dst.omu.Unlock()
		err := dst.fc.WriteFrame(f[0], f[1:])
		dst.omu.Lock()
		if dst.oclosed {
			break
		}
		dst.overflow[0] = nil
		dst.overflow = dst.overflow[1:]
		dst.obytes -= len(f)
		dst.ocond.Broadcast()
		if err != nil {
			dst.overflow, dst.obytes = nil, 0
		}
	}
	dst.flushing = false
}

// holdBack waits while dst's overflow is over its limit, at most the stall
// timeout; then dst is stuck and its link is closed. Called with no lock held.
func (h *RoomHub) holdBack(dst *hubLink) {
	deadline := time.Now().Add(h.stall)
	t := time.AfterFunc(h.stall, func() {
		dst.omu.Lock()
		dst.ocond.Broadcast()
		dst.omu.Unlock()
	})
	defer t.Stop()
	dst.omu.Lock()
	for dst.obytes > HubOverflowLimit && !dst.oclosed && time.Now().Before(deadline) {
		dst.ocond.Wait()
	}
	stuck := dst.obytes > HubOverflowLimit && !dst.oclosed
	dst.omu.Unlock()
	if stuck {
		h.metrics.hubStallTimeout()
		h.log.Warn("worker's hub queue stayed full, closing its link", "instance", dst.id, "stall", h.stall)
		h.remove(dst)
	}
}
