package testutil

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestSocketPair: the two ends are connected both ways, are Unix stream
// sockets, and closing both gives back every fd.
func TestLogBuffer(t *testing.T) {
	var l LogBuffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fmt.Fprintf(&l, "line %d\n", i)
		}()
	}
	wg.Wait()
	lines := strings.Split(l.String(), "\n")
	for i := range 8 {
		if want := fmt.Sprintf("line %d", i); !slices.Contains(lines, want) {
			t.Fatalf("log %q lacks %q", l.String(), want)
		}
	}
}
