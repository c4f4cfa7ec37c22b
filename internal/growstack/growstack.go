// Package growstack grows the calling goroutine's stack ahead of a deep
// call path, in one step, while the stack is still shallow.
//
// Why: goroutines start with a small stack (the runtime's adaptive start
// size follows the average stack in use, which idle goroutines keep low)
// and the stack doubles each time a call needs more, copying it and
// adjusting every frame, which costs more the deeper the stack is. On a
// worker's request path a net/http connection goroutine and a socket's
// task goroutine each grow several times (docs/architecture.md, "Stack
// growth", has the figures). Growing once, early, replaces those copies.
//
// The stack it leaves is what the path would have grown to anyway; the
// garbage collector shrinks it again if the goroutine then idles with a
// shallow stack.
//
// The package is plain Go and builds on every OS.
//
// # Concurrency
//
// Grow acts on the calling goroutine's stack only; it is safe to call from
// any number of goroutines.
package growstack

// frameBytes is the frame Grow puts on the stack: with the few KiB a
// goroutine uses before it reaches Grow, the stack becomes 16 KiB, the
// size a worker's request path needs.
const frameBytes = 10 << 10

// Grow makes sure the goroutine's stack can take about frameBytes more
// than it now uses. It has no other effect.
func Grow() { grow(0) }

// grow's frame holds the array; returning one of its bytes keeps the
// compiler from dropping it.
//
//go:noinline
func grow(i int) byte {
	var b [frameBytes]byte
	return b[i&(len(b)-1)]
}
