// Package adapter is the socketio.Adapter of a stickyd cluster: rooms and
// cluster operations across the workers of one primary, through the
// primary's hub (hub.Server) over the worker's hub link. The link's
// protocol (member set, request ids and their answers, sync barriers) is a
// hub.Client's; this package gives the frames their Socket.IO meaning.
//
// Plug it in before the worker reports ready:
//
//	l, _ := worker.Listen()
//	cluster, err := adapter.New(l, adapter.Options{})
//	io := socketio.NewServer(socketio.Options{Adapter: cluster.Adapter})
//	l.Ready()
//
// Each namespace gets an *Adapter. It announces to the hub the rooms that
// gain their first local member or lose their last one (socket id rooms
// included), so the hub sends a broadcast only to the workers with a
// member of a target room; every connected member receives it once. Except
// rooms are applied by each receiving worker. A join is visible to every
// worker's later broadcasts: Socket.Join waits until the hub has indexed a
// room new to this worker (one round trip; not for the socket's own id
// room at connect), and SocketsJoin has the hub index the receiving
// workers when it routes the operation. Requests (FetchSockets,
// ServerSideEmit with acks, broadcast acks, ClusterRooms, ClusterSockets)
// learn from the hub which workers were asked and resolve as soon as every
// one of them answered or left the cluster (the hub announces live workers
// at once), or when the context or timeout ends (default 5 s), with what
// arrived and an error wrapping socketio.ErrTimeout.
//
// Connection state recovery (socketio.Options.ConnectionStateRecovery)
// spans the cluster. A client reconnects with a new Engine.IO session, so
// stickyd may hand it to any worker; that worker's RestoreSession, when
// the session is not in its own store, asks the worker that holds it (one
// hub request, routed only to the holder through a room named after the
// session's pid; bounded by RequestTimeout). The holder restores it at
// most once (a second request finds nothing), stops holding its rooms and
// returns the session (id, pid, rooms, data as JSON) and the packets it
// missed, encoded as sent. While a session waits (disconnected, not
// expired), the worker that stores it keeps its rooms announced to the hub
// (room presence counts held sessions like members), so broadcasts from
// every worker reach its store of missed packets; a timer per session
// ends the hold after MaxDisconnectionDuration, so presence always goes
// away. Offsets are per worker: the client sends the last offset it saw,
// which the holder issued, and the restoring worker records it as an
// alias of its own position, so the session can be restored again later
// from that offset. A holder that died, a session that expired, or a
// holder that does not answer in time gives the client a fresh session,
// as Node does. Broadcasts sent after the restore and before the restored
// socket has joined its rooms are not delivered (as in Node, where the
// socket joins after its middlewares).
//
// Bad input from another worker (a payload that does not decode, an
// unknown operation, a namespace this worker does not serve) is logged
// and dropped, and a request is answered empty so that its requester does
// not wait. Responses to unknown or finished requests are dropped.
//
// # Concurrency
//
// A Cluster and its Adapters are safe for concurrent use. One goroutine
// per Cluster (its hub.Client's reader) reads the hub link and applies the operations of other
// workers in the order each sent them; it runs request callbacks one at a
// time and never with a lock held that a caller could need. Broadcast does
// not wait for the network: frames are queued on the link (a volatile one
// is dropped when the queue is full); other operations wait only while the
// link's queue is full. Membership changes of one namespace are serialised
// so the hub sees them in order.
package adapter
