package growstack

import "testing"

// deep recurses n frames of about 512 bytes each, as a request path does
// through a stack of handlers and encoders.
//
//go:noinline
func deep(n int) byte {
	var pad [480]byte
	pad[n%len(pad)] = byte(n)
	if n == 0 {
		return pad[0]
	}
	return deep(n-1) + pad[n%len(pad)]
}

// TestGrow: Grow returns and leaves the goroutine working, however deep
// it then goes.
func TestGrow(t *testing.T) {
	done := make(chan byte)
	go func() {
		Grow()
		done <- deep(64)
	}()
	<-done
}

// BenchmarkDeepPath runs a 12 KiB-deep path on a fresh goroutine, as each
// request's goroutine does: with Grow first (one growth, from a shallow
// stack) and without (the stack doubles as the path goes deeper).
func BenchmarkDeepPath(b *testing.B) {
	for _, tt := range []struct {
		name string
		grow bool
	}{{"grow-first", true}, {"grow-on-demand", false}} {
		b.Run(tt.name, func(b *testing.B) {
			done := make(chan byte)
			for b.Loop() {
				go func() {
					if tt.grow {
						Grow()
					}
					done <- deep(24)
				}()
				<-done
			}
		})
	}
}
