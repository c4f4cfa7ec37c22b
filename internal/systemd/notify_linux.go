package systemd

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// notifyWriteTimeout bounds one datagram write to a stuck notify socket.
const notifyWriteTimeout = time.Second

// Notifier speaks systemd's Type=notify protocol: each call sends one
// datagram of newline-separated VAR=VALUE assignments to $NOTIFY_SOCKET (a
// filesystem path, or an abstract socket when it starts with '@'). A nil
// *Notifier, or one made without NOTIFY_SOCKET, does nothing and returns
// nil, so callers need no checks. All methods are safe for concurrent use.
type Notifier struct {
	mu       sync.Mutex
	conn     *net.UnixConn
	watchdog time.Duration // WATCHDOG_USEC/2; 0 when the watchdog is off
}

// NewNotifier reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the
// environment and then unsets them (as sd_notify's unset_environment does),
// so that worker processes do not inherit them. Without NOTIFY_SOCKET it
// returns a Notifier that does nothing. It fails, wrapping ErrNotify, when
// the socket cannot be opened or WATCHDOG_USEC is not a positive integer.
func NewNotifier() (*Notifier, error) {
	sock, usec, wpid := os.Getenv(EnvNotifySocket), os.Getenv(EnvWatchdogUSec), os.Getenv(EnvWatchdogPID)
	os.Unsetenv(EnvNotifySocket)
	os.Unsetenv(EnvWatchdogUSec)
	os.Unsetenv(EnvWatchdogPID)
	n := &Notifier{}
	if sock == "" {
		return n, nil
	}
	if usec != "" && (wpid == "" || wpid == strconv.Itoa(os.Getpid())) {
		v, err := strconv.ParseUint(usec, 10, 63)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("%w: %s=%q: want a positive integer", ErrNotify, EnvWatchdogUSec, usec)
		}
		n.watchdog = time.Duration(v) * time.Microsecond / 2
	}
	// Go maps a leading '@' to the abstract namespace.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotify, err)
	}
	n.conn = c
	return n, nil
}

// Enabled reports whether notifications go anywhere.
func (n *Notifier) Enabled() bool {
	if n == nil {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.conn != nil
}

// WatchdogInterval is how often WATCHDOG=1 must be sent (half of
// WATCHDOG_USEC), or 0 when systemd's watchdog is off for this process.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog
}

// Send sends state, one or more newline-separated assignments, as one
// datagram. It waits at most one second for a full socket buffer.
func (n *Notifier) Send(state string) error {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn == nil {
		return nil
	}
	n.conn.SetWriteDeadline(time.Now().Add(notifyWriteTimeout))
	if _, err := n.conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("%w: %w", ErrNotify, err)
	}
	return nil
}

// Ready sends READY=1 with a STATUS line.
func (n *Notifier) Ready(status string) error {
	return n.Send("READY=1\nSTATUS=" + status)
}

// Reloading sends RELOADING=1 with MONOTONIC_USEC, the CLOCK_MONOTONIC time
// in microseconds, as Type=notify-reload requires. Follow it with Ready.
func (n *Notifier) Reloading(status string) error {
	return n.Send("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(monotonicUSec(), 10) + "\nSTATUS=" + status)
}

// Stopping sends STOPPING=1.
func (n *Notifier) Stopping(status string) error {
	return n.Send("STOPPING=1\nSTATUS=" + status)
}

// Status sends a free-form STATUS line (shown by systemctl status).
func (n *Notifier) Status(status string) error { return n.Send("STATUS=" + status) }

// Watchdog sends WATCHDOG=1.
func (n *Notifier) Watchdog() error { return n.Send("WATCHDOG=1") }

// Close closes the socket; later sends do nothing. Idempotent.
func (n *Notifier) Close() error {
	if n == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.conn == nil {
		return nil
	}
	err := n.conn.Close()
	n.conn = nil
	return err
}

func monotonicUSec() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano() / 1000
}
