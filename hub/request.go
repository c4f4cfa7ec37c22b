package hub

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/stickyd/stickyd/ipc"
)

// Request is one cluster request: a HubRequest the hub routes like a
// broadcast (to the members with a member of a target room, every member
// serving Nsp without rooms), answered by each member it reached with
// responses, the last one final. Fill in the exported fields and pass it
// to Client.Start once.
//
// The callbacks run on the client's reader goroutine (or the goroutine of
// Start, Cancel or the expiry, as said), one at a time, never with a lock
// of the Client held: OnRouted exactly once, then OnResponse per response
// and OnGone per asked member that left before its final response. The
// request resolves (Done closes) when every asked member answered or
// left, when it is cancelled, or when the link ends.
type Request struct {
	Nsp     string
	Rooms   []string // target rooms; none: the whole namespace
	Payload []byte   // opaque to the hub
	// Expire, when positive, cancels the request after that long (see
	// Client.Cancel), from whatever goroutine the timer runs on.
	Expire time.Duration

	// OnRouted receives the members the hub asked (nil when none, or
	// when the request resolved before the hub answered).
	OnRouted func(targets []uint32)
	// OnResponse receives one response of member from.
	OnResponse func(from uint32, payload []byte, final bool)
	// OnGone, optional, is told that member from left without its final
	// response.
	OnGone func(from uint32)

	id      uint64
	routed  bool
	waiting map[uint32]struct{} // asked members without a final response
	done    chan struct{}
	timer   *time.Timer
	expired atomic.Bool // the expiry fired: Start must not register
}

// Done is closed when r has resolved. Valid after Start.
func (r *Request) Done() <-chan struct{} { return r.done }

// Start registers r and sends its HubRequest. When the link is gone, or
// the request cannot be sent (too large: logged), r resolves at once as
// routed to nobody.
func (c *Client) Start(r *Request) {
	r.done = make(chan struct{})
	if r.Expire > 0 {
		r.timer = time.AfterFunc(r.Expire, func() {
			r.expired.Store(true)
			c.Cancel(r)
		})
	}
	c.mu.Lock()
	if c.lost || r.expired.Load() {
		c.mu.Unlock()
		r.OnRouted(nil)
		r.finish()
		return
	}
	r.id = c.nextID
	c.nextID++
	c.pending[r.id] = r
	c.mu.Unlock()
	m := ipc.HubMessage{Type: ipc.HubRequest, ReqID: r.id, Nsp: r.Nsp, Rooms: r.Rooms, Payload: r.Payload}
	b, err := m.AppendBinary(nil)
	if err == nil {
		err = c.fc.WriteFrame(byte(ipc.HubRequest), b)
	}
	if err != nil && !errors.Is(err, ipc.ErrClosed) {
		c.log.Error("hub request not sent", "nsp", r.Nsp, "error", err)
		c.mu.Lock()
		_, ok := c.pending[r.id]
		delete(c.pending, r.id)
		c.mu.Unlock()
		if ok {
			r.OnRouted(nil)
			r.finish()
		}
	}
}

// Cancel forgets r: later responses are dropped. A request the hub has not
// routed yet gets OnRouted(nil) here, so that OnRouted always runs once.
// Done is not closed by Cancel.
func (c *Client) Cancel(r *Request) {
	c.mu.Lock()
	_, ok := c.pending[r.id]
	delete(c.pending, r.id)
	unrouted := ok && !r.routed
	c.mu.Unlock()
	if unrouted {
		r.OnRouted(nil)
	}
}

// Wait blocks until r resolves or ctx is done; false means ctx ended first
// (r is then cancelled).
func (c *Client) Wait(ctx context.Context, r *Request) bool {
	select {
	case <-r.done:
		return true
	case <-ctx.Done():
		c.Cancel(r)
		select {
		case <-r.done: // resolved meanwhile
			return true
		default:
			return false
		}
	}
}

// members applies a new member set: requests waiting on members that left
// hear OnGone, and resolve when nobody is left to answer.
func (c *Client) members(self uint32, ids []uint32) {
	type gone struct {
		r  *Request
		id uint32
	}
	var left []gone
	var resolved []*Request
	c.mu.Lock()
	c.self = self
	c.live = ids
	for _, r := range c.pending {
		if !r.routed {
			continue
		}
		for id := range r.waiting {
			if !slices.Contains(ids, id) {
				delete(r.waiting, id)
				left = append(left, gone{r, id})
			}
		}
		if len(r.waiting) == 0 {
			delete(c.pending, r.id)
			resolved = append(resolved, r)
		}
	}
	c.mu.Unlock()
	c.joinOnce.Do(func() { close(c.joined) })
	for _, g := range left {
		if g.r.OnGone != nil {
			g.r.OnGone(g.id)
		}
	}
	for _, r := range resolved {
		r.finish()
	}
}

// routed applies the hub's HubRouted for request id: the live members it
// names are awaited.
func (c *Client) routed(id uint64, targets []uint32) {
	c.mu.Lock()
	r := c.pending[id]
	if r == nil || r.routed {
		c.mu.Unlock()
		return
	}
	r.routed = true
	asked := targets[:0]
	r.waiting = make(map[uint32]struct{}, len(targets))
	for _, t := range targets {
		if slices.Contains(c.live, t) {
			r.waiting[t] = struct{}{}
			asked = append(asked, t)
		}
	}
	empty := len(r.waiting) == 0
	if empty {
		delete(c.pending, id)
	}
	c.mu.Unlock()
	r.OnRouted(asked)
	if empty {
		r.finish()
	}
}

// response hands a response of member from to its request, if that
// request still waits for from.
func (c *Client) response(from uint32, id uint64, final bool, payload []byte) {
	c.mu.Lock()
	r := c.pending[id]
	if r == nil || !r.routed {
		c.mu.Unlock()
		c.log.Trace("response for an unknown request dropped", "from", from, "id", id)
		return
	}
	if _, ok := r.waiting[from]; !ok {
		c.mu.Unlock()
		return
	}
	resolved := false
	if final {
		delete(r.waiting, from)
		if len(r.waiting) == 0 {
			delete(c.pending, id)
			resolved = true
		}
	}
	c.mu.Unlock()
	r.OnResponse(from, payload, final)
	if resolved {
		r.finish()
	}
}

// abandon resolves r because the link ended: members it waited for count
// as gone.
func (r *Request) abandon() {
	if !r.routed {
		r.OnRouted(nil)
	} else if r.OnGone != nil {
		for id := range r.waiting {
			r.OnGone(id)
		}
	}
	r.finish()
}

func (r *Request) finish() {
	if r.timer != nil {
		r.timer.Stop()
	}
	close(r.done)
}
