// Package admin is the server side of the Socket.IO Admin UI
// (https://admin.socket.io, npm @socket.io/admin-ui 0.5.x) for a
// socketio.Server: the UI connects to the admin namespace ("/admin") and
// gets the server's stats, its sockets and rooms, a live feed of
// connections, room changes and received events, and can make sockets
// join or leave a room, disconnect them, or emit to them.
//
// Nothing is exposed unless the application calls Instrument:
//
//	io := socketio.NewServer(socketio.Options{Adapter: cluster.Adapter})
//	hash, _ := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.DefaultCost)
//	a, err := admin.Instrument(io, admin.Options{
//		Auth: &admin.BasicAuth{Username: "admin", PasswordHash: string(hash)},
//	})
//	defer a.Close()
//
// # Cluster
//
// Every worker of a stickyd cluster (every server sharing an adapter)
// calls Instrument. Each sends its own stats and the events of its own
// sockets to the admin namespace, which the adapter broadcasts to the
// admin sockets of the whole cluster, so the UI lists every server. The
// list of sockets sent when the UI connects gathers every server's
// sockets with a server-side emit with acks (event "admin:sockets"), and
// the UI's actions go through the namespace's broadcast operators
// (SocketsJoin, SocketsLeave, DisconnectSockets, Emit), which the adapter
// applies on every server.
//
// # Authentication
//
// With Options.Auth the UI logs in with a username and a password checked
// against a bcrypt hash (the hashes the Node package takes); a successful
// login gets a session id (event "session") the UI reconnects with. A
// session id is signed with an HMAC keyed by the password hash, so every
// server of the cluster accepts the ids any of them issued, until
// Options.SessionTTL passes. The hash is therefore a secret as much as the
// password: whoever reads it (a config file, the environment) can forge
// session ids without cracking it, where the Node package's random ids
// in its store cannot be forged. Without Options.Auth anyone who reaches
// the namespace is admitted (Instrument logs a warning).
//
// # Room changes
//
// socketio has no room hooks, so each server looks at its local sockets'
// rooms every Options.RoomScanInterval (default 500 ms) and sends
// room_joined and room_left for the differences: O(local sockets) per
// scan: comparing 10k unchanged sockets takes about 1.5 ms and allocates
// nothing (BenchmarkRoomScanUnchanged10k), on top of socketio's Sockets
// and per-socket Rooms lists. A join and leave between two scans is not
// shown.
//
// # Cost
//
// As in the Node package, the feed is sent whether or not a UI is
// watching: every connection, disconnection, room change and received
// event of a watched namespace is one broadcast on the admin namespace,
// which the cluster adapter relays to every server.
//
// # Concurrency
//
// An *Admin is safe for concurrent use. Instrument starts two goroutines
// (stats and room scan) and one per UI connection while it gathers the
// sockets of the cluster; all are started under the Admin's lock with a
// running check and end before Close returns. The namespace handlers run
// on socketio's goroutines and only emit.
package admin
