package main

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/stickyd/stickyd/socketio"
)

// The demo's events (namespace "/"):
//
//	connect   auth {room, name}: joins room (a bad name is refused with
//	          "demo: bad room name")
//	welcome   server → tab: {id, pid, room, name}
//	chat      tab → server: text; server → room: {name, text, pid, at}
//	system    server → room: a line about who came or went
//	rooms     tab → server, acked with every room of the cluster
//	rooms-changed  server → everyone: ask for "rooms" again
//
// A tab refreshes its room list on rooms-changed, so the list is rebuilt
// from the cluster after every change, whichever worker made it. That is
// one FetchSockets per tab per change: right for a demo; an app with many
// clients would rebuild the list once per worker and broadcast it.

// Limits of what a tab may send.
const (
	maxNameLen    = 24
	maxMessageLen = 500
	listTimeout   = 5 * time.Second
)

// member is a socket's data: who it is, where, on which worker. The
// cluster adapter sends it with FetchSockets, so any worker can list the
// members of every room.
type member struct {
	Name string `json:"name"`
	Room string `json:"room"`
	PID  int    `json:"pid"`
}

// message is a chat line.
type message struct {
	Name string `json:"name"`
	Text string `json:"text"`
	PID  int    `json:"pid"`
	At   int64  `json:"at"` // Unix ms
}

// roomInfo is a room in the list every tab shows.
type roomInfo struct {
	Name    string   `json:"name"`
	Members []member `json:"members"`
}

// chat holds the demo's Socket.IO handlers.
type chat struct {
	io     *socketio.Server
	pid    int
	logger hclog.Logger
}

func newChat(io *socketio.Server, pid int, logger hclog.Logger) *chat {
	return &chat{io: io, pid: pid, logger: logger}
}

func (c *chat) register() {
	c.io.Use(c.admit)
	c.io.OnConnection(c.onConnection)
}

// admit checks the room a tab asks for and records who it is.
func (c *chat) admit(s *socketio.Socket) error {
	var auth struct{ Room, Name string }
	_ = json.Unmarshal(s.Auth(), &auth)
	if !validRoom(auth.Room) {
		return &socketio.ConnectError{Message: errBadRoom.Error()}
	}
	s.SetData(member{Name: cleanName(auth.Name, s.ID()), Room: auth.Room, PID: c.pid})
	return nil
}

// cleanName is name trimmed to maxNameLen runes, or a guest name.
func cleanName(name, id string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return "guest-" + id[:4]
	}
	for utf8.RuneCountInString(name) > maxNameLen {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

func (c *chat) onConnection(s *socketio.Socket) {
	me, _ := s.Data().(member)
	s.Join(me.Room)
	_ = s.Emit("welcome", map[string]any{"id": s.ID(), "pid": c.pid, "room": me.Room, "name": me.Name})
	_ = c.io.To(me.Room).Emit("system", me.Name+" joined")
	_ = c.io.Emit("rooms-changed")
	_ = s.On("chat", func(text string) {
		text = strings.TrimSpace(text)
		if text == "" || len(text) > maxMessageLen {
			return
		}
		_ = c.io.To(me.Room).Emit("chat", message{Name: me.Name, Text: text, PID: c.pid, At: time.Now().UnixMilli()})
	})
	_ = s.On("rooms", func(ack socketio.AckFunc) {
		if ack != nil {
			_ = ack(c.rooms())
		}
	})
	s.OnDisconnect(func(string) {
		_ = c.io.To(me.Room).Emit("system", me.Name+" left")
		_ = c.io.Emit("rooms-changed")
	})
}

// rooms lists every room of the cluster with its members (a socket's own
// id room left out), from one FetchSockets over every worker, so rooms
// joined another way (the Admin UI's join) show too. On a timeout it lists what arrived.
func (c *chat) rooms() []roomInfo {
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	sockets, err := c.io.FetchSockets(ctx)
	if err != nil {
		c.logger.Warn("listing rooms", "error", err)
	}
	byRoom := map[string][]member{}
	for _, s := range sockets {
		var m member
		if json.Unmarshal(s.Data, &m) != nil {
			m = member{Name: "?"}
		}
		for _, room := range s.Rooms {
			if room != s.ID {
				byRoom[room] = append(byRoom[room], m)
			}
		}
	}
	list := make([]roomInfo, 0, len(byRoom))
	for name, members := range byRoom {
		sort.Slice(members, func(i, j int) bool { return members[i].Name < members[j].Name })
		list = append(list, roomInfo{Name: name, Members: members})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}
