package redistest

import (
	"testing"
)

// Start gives a server answering PING; Kill stops it; Restart brings it
// back on the same port.
func TestStartKillRestart(t *testing.T) {
	s := Start(t)
	if err := ping(s.Addr); err != nil {
		t.Fatal(err)
	}
	port := s.Port
	s.Kill()
	if err := ping(s.Addr); err == nil {
		t.Fatal("redis still answers after Kill")
	}
	s.Restart()
	if s.Port != port {
		t.Fatalf("restarted on port %d, was %d", s.Port, port)
	}
	if err := ping(s.Addr); err != nil {
		t.Fatal(err)
	}
}
