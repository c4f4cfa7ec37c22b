// Package ipc holds the wire formats between the stickyd primary and its
// workers, and the small connection types that speak them.
//
// The control link is a SOCK_SEQPACKET Unix connection ([ControlConn]): every
// [Message] is one datagram of at most [MaxControlMessage] bytes carrying at
// most one file descriptor (SCM_RIGHTS). The hub link is a SOCK_STREAM Unix
// connection ([FrameConn]) of length-prefixed frames of at most
// [MaxHubFrame] bytes. Session ids ([EncodeSID], [SIDInstance]) carry the
// instance id of the worker that issued them; this package is the only code
// that knows their layout. The byte layouts are fixed by docs/architecture.md.
//
// # File descriptors
//
// Send never closes the descriptor it is given and never changes its blocking
// mode. Every descriptor Recv returns is close-on-exec and owned by the
// caller; on every error path Recv closes each descriptor the message carried
// before returning.
//
// # Concurrency
//
// Message values are plain data. A ControlConn allows any number of
// concurrent Send calls (each message is one atomic datagram) and one Recv
// caller at a time; Close may be called concurrently with both and unblocks
// them. A FrameConn allows any number of concurrent WriteFrame, TryWriteFrame,
// QueueFrame, Push and Flush callers and one ReadFrame (and FrameBuffered)
// caller at a time; a single writer goroutine per FrameConn batches queued
// frames into as few write calls as possible, and Push writes them on its
// caller's goroutine when no write is in flight. Close is safe to call concurrently and more than once.
package ipc
