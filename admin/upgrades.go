package admin

import (
	"sync"

	"github.com/stickyd/stickyd/engineio"
)

// upgradeWatch tells the UI when a polling connection upgrades to
// websocket (socket_updated for each of its watched sockets). It hooks a
// connection once, not once per socket: engineio keeps every OnUpgrade and
// OnClose handler for the connection's life, so a handler per socket
// would pile up for a client that joins and leaves a namespace over and
// over on one connection. A connection is forgotten when it upgrades or
// closes, so the map holds at most the live polling connections. Safe for
// concurrent use.
type upgradeWatch struct {
	mu      sync.Mutex
	sockets map[*engineio.Socket]map[socketKey]bool // hooked polling connection -> its watched sockets
}

func newUpgradeWatch() *upgradeWatch {
	return &upgradeWatch{sockets: map[*engineio.Socket]map[socketKey]bool{}}
}

// add records socket key of conn, a connection still on polling, hooking
// conn on its first socket; onUpgrade then gets the connection's sockets
// when it upgrades.
func (w *upgradeWatch) add(conn *engineio.Socket, key socketKey, onUpgrade func([]socketKey)) {
	w.mu.Lock()
	set, hooked := w.sockets[conn]
	if !hooked {
		set = map[socketKey]bool{}
		w.sockets[conn] = set
	}
	set[key] = true
	w.mu.Unlock()
	if hooked {
		return
	}
	conn.OnUpgrade(func() {
		if keys := w.forgetConn(conn); len(keys) > 0 {
			onUpgrade(keys)
		}
	})
	conn.OnClose(func(string, error) { w.forgetConn(conn) })
}

// remove forgets socket key of conn; connGone says the connection closed
// with it (then its whole entry goes, in case it closed before add could
// hook it).
func (w *upgradeWatch) remove(conn *engineio.Socket, key socketKey, connGone bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if connGone {
		delete(w.sockets, conn)
		return
	}
	delete(w.sockets[conn], key)
}

// forgetConn drops conn and returns the sockets it had.
func (w *upgradeWatch) forgetConn(conn *engineio.Socket) []socketKey {
	w.mu.Lock()
	set := w.sockets[conn]
	delete(w.sockets, conn)
	w.mu.Unlock()
	keys := make([]socketKey, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	return keys
}

// hooked reports how many connections are hooked (tests).
func (w *upgradeWatch) hooked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.sockets)
}
