// Package nodeipc speaks Node.js's child-process IPC channel from the
// parent's side, so that stickyd can run an unmodified Node app as its
// workers (docs/node.md).
//
// Node opens the channel when NODE_CHANNEL_FD names a stream socket in its
// environment. Messages are framed by NODE_CHANNEL_SERIALIZATION_MODE:
//
//   - json: JSON.stringify(message) followed by "\n".
//   - advanced: a big-endian uint32 length, then a V8 ValueSerializer body
//     (header 0xFF, version). This package decodes and encodes a subset of
//     V8's format (see DecodeV8): objects, arrays, strings, numbers,
//     booleans, null/undefined and Node Buffers (typed arrays) as host
//     objects. Anything else is reported as ErrUnsupported for that message
//     only.
//
// A handle (a socket fd) travels in the same sendmsg as the frame of its
// {cmd:"NODE_HANDLE", type:"net.Socket", msg:...} message, in SCM_RIGHTS;
// Node answers {cmd:"NODE_HANDLE_ACK"} (or NODE_HANDLE_NACK when no fd came
// with it). Conn.SendHandle writes that frame; keeping one handle in flight
// until the answer is the caller's job. A child hands a socket back the
// same way (process.send(msg, socket)): Conn.Read returns it as the
// Message's FD, and answering NODE_HANDLE_ACK is the caller's job (until
// it comes, Node queues every later message of the child). Node's docs call NODE_* messages
// internal; the versions tested are listed in docs/node.md.
//
// # Concurrency
//
// A Conn may be read by one goroutine while any number of goroutines send
// on it (sends are serialised by a mutex and each frame goes out whole).
// Close may be called from any goroutine; it unblocks Read and Send.
// DecodeV8 and EncodeV8 are pure functions.
package nodeipc
