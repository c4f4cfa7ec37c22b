// Package hub relays the adapter traffic of one host: Socket.IO room
// broadcasts and cluster requests between the worker processes of a
// stickyd primary. It owns both ends of the hub link's protocol, so that
// the rules both ends rely on live in one place: Server is the primary's
// end, Client a worker's (package adapter builds the Socket.IO semantics
// on a Client). The byte layout of the frames is package ipc's
// (ipc.HubMessage, ipc.HubType); this package decides what they mean.
//
// The primary accepts the hub socket, authenticates each link (peer uid,
// the instance's Hello and secret) and hands it to a Hub; Server is the
// real one, Nop refuses every link.
//
// # Routing
//
// The Server keeps an index of which members (instances) have members of
// which rooms, per namespace, from the members' HubRooms announcements. It
// forwards a broadcast or a request only to the members with a member of
// a target room (every member serving the namespace when there are no
// target rooms), never back to the sender. A broadcast that makes sockets
// join rooms (ipc.HubJoin) indexes its receivers in those rooms before
// anything else is routed. A response goes only to the requester it names.
//
// # Membership
//
// Every member receives ipc.HubMembers when it joins and each time the set
// of live members changes. When a link ends (EOF, error, bad frame,
// WorkerGone, cut as a slow consumer), its rooms leave the index and the
// remaining members are sent the new set at once.
//
// # Requests
//
// A Client numbers its requests; the Server answers each with HubRouted
// (the members it asked) before any of them gets it, so the Client
// resolves a request the moment every asked member has sent its final
// response or left the member set, without timers on the hub. A Client
// whose link ends resolves every pending request at once.
//
// # Order
//
// Frames from one member are handled one at a time, and each destination
// has one FIFO queue, so frames from one member reach each other member
// in the order sent (volatile frames may be dropped, see Flow). HubSync is
// a barrier: the Server echoes it once every earlier frame of its sender
// has been applied, which makes a member's room announcements visible to
// every later broadcast.
//
// # Flow
//
// Each destination has its sink's queue (ipc.FrameQueueLimit bytes for a
// worker's FrameConn) and behind it the hub's own queue. What happens when
// a destination does not read fast enough, in this order:
//
//  1. A volatile broadcast is dropped for a destination whose sink is full
//     (stickyd_hub_volatile_dropped_total): volatile packets go first.
//  2. Other frames wait in the destination's queue. While it holds more
//     than StallThreshold bytes, the hub stops reading the link of each
//     sender to it (the sender's worker then waits on its own writes:
//     back-pressure), but for at most Options.StallBudget per frame, in
//     total over all its congested destinations
//     (stickyd_hub_stall_seconds_total). A destination still congested
//     when a budget runs out is marked slow, and no sender waits for it
//     again until it drains. So one sender is never stalled once per
//     destination, and a wait cycle (the hub waiting for a worker that
//     waits for the hub to read its own writes) ends after one budget.
//  3. A destination whose queue passes CutThreshold, or stays over
//     StallThreshold for Options.StallTimeout, is a slow consumer: its
//     link is cut (stickyd_hub_stall_timeouts_total), the primary restarts
//     that worker and its peers learn at once. The sender is never cut for
//     a slow destination.
//
// Memory per member is thus bounded by its sink's queue plus
// CutThreshold. The member set (HubMembers) is never held back.
//
// Bad input: a frame that does not decode, a hub-to-worker type sent by a
// worker, or an unknown type closes that link only, and is logged. A
// response for an instance that is not live is dropped. A Client logs and
// drops a frame from the hub that does not decode.
//
// # Members other than workers
//
// A member is an instance id with a sink (where the Server writes its
// frames) whose incoming frames are fed to the Server's frame handler;
// Serve makes one from a worker's FrameConn. RedisBridge, the host's
// membership of a Redis fleet, is attached the same way (instance
// BridgeInstance, over a Unix socket pair) and follows the same rules,
// with one addition: every broadcast and request of a worker is also
// routed to the bridge, which is never indexed in rooms. While a bridge is
// attached, HubMembers also lists one placeholder instance per server of
// the other hosts (never a target), so that ServerCount is the fleet's.
//
// # Node workers
//
// Node workers (docs/node.md) do not speak the hub link: their
// @socket.io/cluster-adapter sends its messages over Node's IPC channel,
// and AdapterRelay plays Node's setupPrimary for them (0.2.x and 0.3.x):
// every message to every other worker, responses to their requester only,
// and a worker's death announced to the others at once.
//
// # Concurrency
//
// Server, Client and AdapterRelay are safe for concurrent use. The Server runs one
// goroutine per link reading it (Serve's caller) and one flush goroutine
// per member while that member's queue is not empty, started under the
// queue's lock only while the member is live, and ended by closing its
// sink; a cut timer per congestion episode is stopped when the episode or
// the member ends. One RWMutex guards the index and the member table:
// routing takes it for reading, announcements and membership changes for
// writing. No goroutine blocks while holding it: sends into a member's
// sink never block under it, and stalls happen after it is released. A
// link's goroutine queues what it relays in the destinations' sinks and
// writes them itself (one non-blocking write per destination, no lock
// held) once no whole frame of its link is buffered, or before it stalls;
// only what a socket does not take goes to the sink's writer goroutine.
//
// A RedisBridge runs the goroutines listed at its type.
//
// A Client runs one goroutine that reads the link, started by Join and
// ended by Close or the end of the link. It calls Deliver and the
// callbacks of a Request on that goroutine, one at a time, never with a
// lock of the Client held, so they may call the Client's methods.
package hub
