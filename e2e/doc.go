// Package e2e holds the end-to-end tests: a real stickyd binary, real worker
// processes (testdata/refapp), real file descriptors passed between them, and
// clients that are the official socket.io-client from npm (testdata/jsclient)
// as well as raw Go HTTP and WebSocket clients.
//
// The package has no non-test code. TestMain builds the binaries once into a
// temporary directory; each test starts its own cluster on 127.0.0.1:0 and
// stops it (SIGTERM, then SIGKILL of the process group) when it ends.
//
// The JavaScript tests need `npm ci` in testdata/jsclient. Without
// node_modules they fail under CI=true and are skipped otherwise.
package e2e
