package redisproto

import "strings"

// DefaultPrefix is Node's default key prefix ("key" option).
const DefaultPrefix = "socket.io"

// Channels are the Redis channels of one namespace under one key prefix.
type Channels struct {
	// Broadcast is "<prefix>#<nsp>#": broadcasts to every socket or to
	// several rooms. Room channels append "<room>#".
	Broadcast string
	// Pattern is Broadcast followed by "*", the PSUBSCRIBE pattern that
	// receives the broadcast and room channels.
	Pattern string
	// Request is "<prefix>-request#<nsp>#". Its PUBSUB NUMSUB is the
	// number of servers of the namespace.
	Request string
	// Response is "<prefix>-response#<nsp>#", where Node servers answer by
	// default.
	Response string
}

// NewChannels returns the channels of namespace nsp ("/" for the main one).
func NewChannels(prefix, nsp string) Channels {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	b := prefix + "#" + nsp + "#"
	return Channels{
		Broadcast: b,
		Pattern:   b + "*",
		Request:   prefix + "-request#" + nsp + "#",
		Response:  prefix + "-response#" + nsp + "#",
	}
}

// Room is the channel of a broadcast to exactly one room.
func (c Channels) Room(room string) string { return c.Broadcast + room + "#" }

// SpecificResponse is the response channel of the server with uid uid:
// "<prefix>-response#<nsp>#<uid>#". Every server subscribes to its own.
func (c Channels) SpecificResponse(uid string) string { return c.Response + uid + "#" }

// BroadcastChannel is where a broadcast to rooms is published: the room's
// channel for exactly one room, Broadcast otherwise.
func (c Channels) BroadcastChannel(rooms []string) string {
	if len(rooms) == 1 {
		return c.Room(rooms[0])
	}
	return c.Broadcast
}

// RoomOf reports the room of a broadcast channel: "" for Broadcast itself,
// ok false for a channel that is not one of this namespace's broadcast
// channels.
func (c Channels) RoomOf(channel string) (room string, ok bool) {
	rest, found := strings.CutPrefix(channel, c.Broadcast)
	if !found {
		return "", false
	}
	if rest == "" {
		return "", true
	}
	if !strings.HasSuffix(rest, "#") {
		return "", false
	}
	return rest[:len(rest)-1], true
}
