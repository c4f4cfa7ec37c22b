package hub

import (
	"reflect"
	"sync"
	"testing"
)

// recordingPeer is an AdapterPeer that keeps what it is sent.
type recordingPeer struct {
	mu     sync.Mutex
	bodies []string
	values []any
}

func (p *recordingPeer) SendAdapterBody(body []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bodies = append(p.bodies, string(body))
	return nil
}

func (p *recordingPeer) SendAdapterValue(v any) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.values = append(p.values, v)
	return nil
}

func adapterMsg(fields map[string]any) map[string]any {
	m := map[string]any{"source": AdapterSource}
	for k, v := range fields {
		m[k] = v
	}
	return m
}

// 0.3.x: broadcasts go to every other worker, responses to the worker
// that announced requesterUid only; a worker's death sends ADAPTER_CLOSE
// per uid to 0.3 workers and never to a 0.2 one.
func TestAdapterRelayV03(t *testing.T) {
	r := NewAdapterRelay(nil)
	a, b, c, old := &recordingPeer{}, &recordingPeer{}, &recordingPeer{}, &recordingPeer{}
	r.Join(1, 1, a)
	r.Join(2, 2, b)
	r.Join(3, 3, c)
	r.Join(4, 4, old)
	r.Relay(4, []byte("w4-init"), adapterMsg(map[string]any{"type": 1.0, "data": 4.0})) // a 0.2 worker
	r.Relay(1, []byte("a-hb"), adapterMsg(map[string]any{"type": 1.0, "uid": "ua", "nsp": "/"}))
	r.Relay(2, []byte("b-hb"), adapterMsg(map[string]any{"type": 1.0, "uid": "ub", "nsp": "/"}))
	r.Relay(3, []byte("c-hb"), adapterMsg(map[string]any{"type": 1.0, "uid": "uc", "nsp": "/"}))
	r.Relay(3, []byte("c-hb2"), adapterMsg(map[string]any{"type": 2.0, "uid": "uc2", "nsp": "/admin"}))
	r.Relay(2, []byte("b-resp"), adapterMsg(map[string]any{"type": 8.0, "uid": "ub", "nsp": "/", "requesterUid": "ua"}))
	if want := []string{"w4-init", "b-hb", "c-hb", "c-hb2", "b-resp"}; !reflect.DeepEqual(a.bodies, want) {
		t.Fatalf("a got %q, want %q", a.bodies, want)
	}
	if want := []string{"w4-init", "a-hb", "c-hb", "c-hb2"}; !reflect.DeepEqual(b.bodies, want) {
		t.Fatalf("b got %q (the response must go to a only)", b.bodies)
	}
	r.Leave(3)
	r.Leave(3) // twice: nothing more
	want := []any{
		adapterMsg(map[string]any{"type": 13, "uid": "uc", "nsp": "/"}),
		adapterMsg(map[string]any{"type": 13, "uid": "uc2", "nsp": "/admin"}),
	}
	for _, p := range []*recordingPeer{a, b} {
		if len(p.values) != 2 || !sameElements(p.values, want) {
			t.Fatalf("after c left, a 0.3 peer got %v, want %v", p.values, want)
		}
	}
	if want := []any{adapterMsg(map[string]any{"type": 3, "data": 3.0})}; !reflect.DeepEqual(old.values, want) {
		t.Fatalf("the 0.2 peer got %v, want WORKER_EXIT only %v", old.values, want)
	}
	if r.Relayed() == 0 {
		t.Fatal("Relayed counts nothing")
	}
}

// 0.2.x: responses go to the worker whose cluster.worker.id is
// data.workerId; a death sends WORKER_EXIT.
func TestAdapterRelayV02(t *testing.T) {
	r := NewAdapterRelay(nil)
	a, b, c := &recordingPeer{}, &recordingPeer{}, &recordingPeer{}
	r.Join(10, 7, a)
	r.Join(11, 8, b)
	r.Join(12, 9, c)
	r.Relay(11, []byte("b-init"), adapterMsg(map[string]any{"type": 1.0, "data": 8.0}))
	r.Relay(12, []byte("c-init"), adapterMsg(map[string]any{"type": 1.0, "data": 9.0}))
	r.Relay(11, []byte("b-resp"), adapterMsg(map[string]any{"type": 9.0, "data": map[string]any{"workerId": 9.0, "requestId": "x"}}))
	if want := []string{"b-init", "b-resp"}; !reflect.DeepEqual(c.bodies, want) {
		t.Fatalf("c got %q, want %q", c.bodies, want)
	}
	if want := []string{"b-init", "c-init"}; !reflect.DeepEqual(a.bodies, want) {
		t.Fatalf("a got %q, want %q", a.bodies, want)
	}
	r.Leave(12)
	if want := []any{adapterMsg(map[string]any{"type": 3, "data": 9.0})}; !reflect.DeepEqual(b.values, want) {
		t.Fatalf("b got %v, want %v", b.values, want)
	}
	// a has sent nothing yet: its version is unknown, so it is told nothing
	if len(a.values) != 0 {
		t.Fatalf("a worker of unknown version got %v", a.values)
	}
	// a message from a worker that never joined is dropped
	r.Relay(99, []byte("stray"), adapterMsg(map[string]any{"type": 4.0}))
	if len(b.bodies) != 1 {
		t.Fatalf("stray message relayed: %q", b.bodies)
	}
}

func sameElements(got, want []any) bool {
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || reflect.DeepEqual(g, w)
		}
		if !found {
			return false
		}
	}
	return true
}
