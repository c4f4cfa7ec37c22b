package ipc

import "testing"

// TestSIDHost: a sid of an instance a fleet host assigned names that host
// and that instance; the sid keeps SIDLen characters.
func TestSIDHost(t *testing.T) {
	for _, host := range []uint16{0, 1, 0x1234, 0xffff} {
		for _, n := range []uint32{1, 2, MaxHostInstance, MaxHostInstance + 2} {
			inst := HostInstance(host, n)
			if InstanceHost(inst) != host || inst&MaxHostInstance != n&MaxHostInstance {
				t.Fatalf("HostInstance(%d, %d) = %#x", host, n, inst)
			}
			sid, err := NewSID(inst)
			if err != nil || len(sid) != SIDLen {
				t.Fatalf("NewSID: %q %v", sid, err)
			}
			if got, ok := SIDHost(sid); !ok || got != host {
				t.Fatalf("SIDHost(%q) = %d %v, want %d", sid, got, ok, host)
			}
		}
	}
	if _, ok := SIDHost("short"); ok {
		t.Fatal("SIDHost accepted a foreign sid")
	}
}
