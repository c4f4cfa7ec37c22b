//go:build !linux

package testutil

// fdDir is empty: FDCount counts no fds on this OS, so that the tests of
// the portable packages (engineio, socketio) check goroutines only.
const fdDir = ""
