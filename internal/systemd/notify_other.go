//go:build !linux

package systemd

import "time"

// Notifier sends nothing outside Linux; its methods return nil. See the
// Linux build for the protocol.
type Notifier struct{}

// NewNotifier returns a Notifier that sends nothing.
func NewNotifier() (*Notifier, error) { return &Notifier{}, nil }

// Enabled reports false.
func (n *Notifier) Enabled() bool { return false }

// WatchdogInterval returns 0: no watchdog.
func (n *Notifier) WatchdogInterval() time.Duration { return 0 }

// Send does nothing.
func (n *Notifier) Send(string) error { return nil }

// Ready does nothing.
func (n *Notifier) Ready(string) error { return nil }

// Reloading does nothing.
func (n *Notifier) Reloading(string) error { return nil }

// Stopping does nothing.
func (n *Notifier) Stopping(string) error { return nil }

// Status does nothing.
func (n *Notifier) Status(string) error { return nil }

// Watchdog does nothing.
func (n *Notifier) Watchdog() error { return nil }

// Close does nothing.
func (n *Notifier) Close() error { return nil }
