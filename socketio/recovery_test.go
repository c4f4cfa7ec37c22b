package socketio

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// joinEmitter is an adapter that broadcasts to each room a socket joins
// the moment it joins (as a broadcast from another server can arrive
// between a socket joining its rooms and its CONNECT answer being written).
type joinEmitter struct{ *InMemoryAdapter }

func (a joinEmitter) AddAll(id string, rooms []string) {
	a.InMemoryAdapter.AddAll(id, rooms)
	for _, r := range rooms {
		p, _ := NewEventPacket(a.nsp.Name(), "early", r)
		a.Broadcast(p, BroadcastOptions{Rooms: []string{r}})
	}
}

// Nothing written to a connecting socket overtakes its CONNECT answer or,
// for a recovered socket, its missed packets.
func TestNothingOvertakesTheConnectAnswer(t *testing.T) {
	env := newEnv(t, Options{
		ConnectionStateRecovery: &RecoveryOptions{MaxDisconnectionDuration: time.Minute},
		Adapter:                 func(nsp *Namespace) Adapter { return joinEmitter{NewInMemoryAdapter(nsp)} },
	})
	c := env.dial("")
	c.send("0")
	var ok struct{ Sid, Pid string }
	if err := json.Unmarshal([]byte(c.expectPrefix(`0{"sid":`)[1:]), &ok); err != nil {
		t.Fatal(err)
	}
	c.expectPrefix(fmt.Sprintf(`2["early",%q,`, ok.Sid)) // its own room, after CONNECT

	// Recovered: the missed packets come before what arrives at the joins.
	s := env.io.Sockets()[0]
	s.Join("news")
	c.expectPrefix(`2["early","news",`)
	_ = env.io.To("news").Emit("e", 1)
	var last []string
	_ = json.Unmarshal([]byte(c.expectPrefix(`2["e",1,`)[1:]), &last)
	c.ws.Close()
	testutil.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if len(env.io.Sockets()) != 0 {
			return fmt.Errorf("socket not removed")
		}
		return nil
	})
	_ = env.io.To("news").Emit("e", 2)
	c2 := env.dial("")
	c2.send(fmt.Sprintf(`0{"pid":%q,"offset":%q}`, ok.Pid, last[2]))
	c2.expect(fmt.Sprintf(`0{"sid":%q,"pid":%q}`, ok.Sid, ok.Pid))
	c2.expectPrefix(`2["e",2,`)
	for range 3 { // its own room twice (connect, session), news
		c2.expectPrefix(`2["early",`)
	}
}

func TestDropSessionAndAdoptOffset(t *testing.T) {
	env := newEnv(t, Options{ConnectionStateRecovery: &RecoveryOptions{MaxDisconnectionDuration: time.Minute}})
	a := env.io.Of("/").Adapter().(*InMemoryAdapter)
	persist := func(pid string) { a.PersistSession(&Session{SID: "sid-" + pid, PID: pid, Rooms: []string{"r"}}) }
	emit := func(v int) {
		p, _ := NewEventPacket("/", "e", v)
		a.Broadcast(p, BroadcastOptions{Rooms: []string{"r"}})
	}
	missed := func(s *Session) []string {
		var out []string
		for _, p := range s.MissedPackets {
			args, _ := p.Args()
			out = append(out, string(args[1]))
		}
		return out
	}

	persist("dropped")
	if got, want := a.DropSession("dropped"), true; got != want {
		t.Fatalf("DropSession = %v, want %v", got, want)
	}
	if got, want := a.DropSession("dropped"), false; got != want {
		t.Fatalf("second DropSession = %v, want %v", got, want)
	}
	if s, _ := a.RestoreSession("dropped", "x"); s != nil {
		t.Fatal("dropped session restored")
	}

	emit(1)
	a.AdoptOffset("p", "other-9")
	emit(2)
	persist("p")
	emit(3)
	tests := []struct {
		name, pid, offset string
		want              []string // nil: not restored
	}{
		{"unknown offset", "q", "other-9", nil},
		{"adopted offset", "p", "other-9", []string{"2", "3"}},
		{"alias used up", "p", "other-9", nil},
	}
	persist("q")
	for _, tt := range tests {
		if tt.name == "alias used up" {
			persist("p")
		}
		s, err := a.RestoreSession(tt.pid, tt.offset)
		if err != nil || (s == nil) != (tt.want == nil) {
			t.Fatalf("%s: restored %v, %v; want %v", tt.name, s, err, tt.want)
		}
		if s != nil && fmt.Sprint(missed(s)) != fmt.Sprint(tt.want) {
			t.Fatalf("%s: missed %v, want %v", tt.name, missed(s), tt.want)
		}
	}
}
