// Package rawsys makes the system calls of stickyd's per-connection hot
// paths on non-blocking sockets as raw system calls (unix.RawSyscall),
// without the Go runtime's bookkeeping around a call that may block.
//
// Why: a call on a non-blocking socket never sleeps in the kernel, so the
// bookkeeping (entersyscall/exitsyscall) buys nothing there, and it costs
// the hot path of every connection and message. Entering a system call
// wakes the runtime's monitor thread (sysmon) whenever the process goes
// from idle to busy, and lets it take the scheduler (the P) from a thread
// the kernel preempted in mid-call and start another thread on it: a
// context switch each time, and a GOMAXPROCS=1 worker's work spread over
// several threads (docs/architecture.md, "Raw system calls on the hot
// paths", has the figures). A raw call keeps its thread on its P.
// The price: the calling goroutine cannot be preempted for the call's
// duration, which is bounded because the call does not block.
//
// Contract: every fd given to this package must be in non-blocking mode
// (or the call must be one that cannot block, as close of a socket
// without SO_LINGER). Each function retries EINTR and returns the errno
// of a failure (EAGAIN included) as a unix.Errno; 0 means success.
//
// The package is Linux-only (its files are *_linux.go): its callers
// (primary, worker, ipc and the websocket write path of engineio on Linux)
// are too. On other OSes it is empty.
//
// # Concurrency
//
// Functions are safe for concurrent use as the system calls are. A Stream
// allows one Read and one Write at a time (see Stream).
package rawsys
