package worker

import (
	"net/http"

	"github.com/stickyd/stickyd/ipc"
)

// GenerateID returns a new session id that names this worker's instance
// (instance 0 standalone), for engineio.Options.GenerateID.
func (l *Listener) GenerateID(*http.Request) (string, error) {
	return ipc.NewSID(l.env.instance)
}

// SessionOpened counts a session opened; the count goes to the primary in
// the next Load message. EngineOptions wires it to engineio.
func (l *Listener) SessionOpened() {
	l.sessions.Add(1)
	l.kickLoad()
}

// SessionClosed counts a session closed.
func (l *Listener) SessionClosed() {
	l.sessions.Add(-1)
	l.kickLoad()
}

// Sessions returns the number of sessions open (SessionOpened minus
// SessionClosed).
func (l *Listener) Sessions() int { return int(l.sessions.Load()) }
