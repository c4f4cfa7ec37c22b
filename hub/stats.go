package primary

import (
	"sync/atomic"

	"github.com/stickyd/stickyd/ipc"
)

// hubLinkStats are the per-link figures behind the hub's metrics.
type hubLinkStats struct {
	// awaiting counts requests forwarded to this link that it has not
	// answered with a final response yet.
	awaiting atomic.Int64
}

// noteRequest records that a frame of type typ was forwarded to targets:
// for a request, each target owes a final response. No-op without metrics.
func (h *RoomHub) noteRequest(typ byte, targets []*hubLink) {
	if h.metrics == nil || typ != byte(ipc.HubRequest) {
		return
	}
	for _, t := range targets {
		t.stats.awaiting.Add(1)
	}
}

// noteResponse records a response from l; a final one settles one request
// l owed. p must have been accepted by ipc.ParseHubResponseTarget.
func (h *RoomHub) noteResponse(l *hubLink, p []byte) {
	if h.metrics != nil && len(p) > hubResponseFlagsOff && p[hubResponseFlagsOff]&ipc.HubFinal != 0 {
		l.stats.awaiting.Add(-1)
	}
}

// hubResponseFlagsOff is the offset of the flags byte in a HubResponse
// payload: u32 instance, u64 request id, u8 flags (see ipc.HubResponse).
const hubResponseFlagsOff = 4 + 8

// noteRemoved counts the requests l still owed when its link ended: their
// requesters resolve them at once on the new member set.
func (h *RoomHub) noteRemoved(l *hubLink) {
	h.metrics.hubOrphanedRequests(l.stats.awaiting.Swap(0))
}
