package adapter

import (
	"context"
	"slices"

	"github.com/stickyd/stickyd/socketio"
)

// Rooms lists every room of nsp that has a member anywhere in the cluster
// (socket id rooms included), sorted. Under another adapter (standalone:
// the in-memory one) it lists this process's rooms. See
// (*Adapter).ClusterRooms for timeouts.
func Rooms(ctx context.Context, nsp *socketio.Namespace) ([]string, error) {
	if a, ok := nsp.Adapter().(*Adapter); ok {
		return a.ClusterRooms(ctx)
	}
	rooms := nsp.Adapter().Rooms()
	slices.Sort(rooms)
	return rooms, nil
}

// Sockets lists the ids of the sockets of nsp in any of rooms (every socket
// when rooms is empty) anywhere in the cluster, sorted. Under another
// adapter it lists this process's sockets. See (*Adapter).ClusterSockets.
func Sockets(ctx context.Context, nsp *socketio.Namespace, rooms ...string) ([]string, error) {
	if a, ok := nsp.Adapter().(*Adapter); ok {
		return a.ClusterSockets(ctx, rooms)
	}
	ids := nsp.Adapter().Sockets(rooms)
	slices.Sort(ids)
	return ids, nil
}
