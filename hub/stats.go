package hub

import "github.com/stickyd/stickyd/ipc"

// noteRequest records that a frame of type typ was forwarded to targets:
// for a request, each target owes a final response. No-op without metrics.
func (h *Server) noteRequest(typ byte, targets []*member) {
	if h.metrics == nil || typ != byte(ipc.HubRequest) {
		return
	}
	for _, t := range targets {
		t.stats.awaiting.Add(1)
	}
}

// noteResponse records a response from m; a final one settles one request
// m owed. p must have been accepted by ipc.ParseHubResponseTarget.
func (h *Server) noteResponse(m *member, p []byte) {
	if h.metrics != nil && ipc.HubResponseFlags(p)&ipc.HubFinal != 0 {
		m.stats.awaiting.Add(-1)
	}
}

// noteRemoved counts the requests m still owed when it left: their
// requesters resolve them at once on the new member set.
func (h *Server) noteRemoved(m *member) {
	h.metrics.orphanedRequests(m.stats.awaiting.Swap(0))
}
