// Package systemd speaks the two systemd protocols stickyd uses: service
// notification (sd_notify(3): READY=1, RELOADING=1, STOPPING=1, STATUS=,
// WATCHDOG=1, through Notifier) and socket activation (sd_listen_fds(3):
// Listeners and Listener take the sockets systemd passed as fds 3, 4, ...).
//
// Both read their variables from the environment once and unset them, so
// that processes started afterwards (the workers) do not inherit them. On
// systems other than Linux, NewNotifier returns a Notifier that sends
// nothing and Listeners finds no sockets.
//
// # Concurrency
//
// A Notifier's methods are safe for concurrent use; each sends one
// datagram under the Notifier's lock, waiting at most a second for a full
// socket. Listeners and Listener change the process environment and take
// ownership of fds 3 and up: call them once, early, before other
// goroutines read the environment or open files.
package systemd

import "errors"

// Environment variables of the systemd notification protocol (sd_notify(3)).
const (
	EnvNotifySocket = "NOTIFY_SOCKET"
	EnvWatchdogUSec = "WATCHDOG_USEC"
	EnvWatchdogPID  = "WATCHDOG_PID"
)

// Environment variables of systemd socket activation (sd_listen_fds(3)).
const (
	EnvListenFDs     = "LISTEN_FDS"
	EnvListenPID     = "LISTEN_PID"
	EnvListenFDNames = "LISTEN_FDNAMES"
)

var (
	// ErrNotify is returned (wrapped) when a notification cannot be sent or the NOTIFY_SOCKET environment is invalid.
	ErrNotify = errors.New("systemd: notify")
	// ErrActivation is returned (wrapped) when the socket activation environment is invalid or a passed fd is not a usable listener.
	ErrActivation = errors.New("systemd: socket activation")
)
