package systemd

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// listenFDsStart is the first fd passed by socket activation (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// Listeners returns the listeners passed by systemd socket
// activation: LISTEN_FDS fds starting at 3, named by LISTEN_FDNAMES
// (colon-separated; "" when absent). It returns nil, nil, nil when LISTEN_FDS
// is unset or LISTEN_PID is set and is not this process (the variables were
// meant for another process).
//
// Side effects, on every path: LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES are
// unset, so that worker processes do not inherit them; every passed fd is
// made close-on-exec and is closed (the returned listeners own dups of
// them). On error every listener already made is closed too; the error
// wraps ErrActivation.
func Listeners() ([]net.Listener, []string, error) {
	n, names, err := parseActivationEnv(os.Getenv, os.Getpid())
	os.Unsetenv(EnvListenFDs)
	os.Unsetenv(EnvListenPID)
	os.Unsetenv(EnvListenFDNames)
	files := make([]*os.File, n)
	for i := range files {
		fd := listenFDsStart + i
		unix.CloseOnExec(fd)
		files[i] = os.NewFile(uintptr(fd), "listen-fd-"+strconv.Itoa(fd))
	}
	if err != nil || n == 0 {
		for _, f := range files {
			f.Close()
		}
		return nil, nil, err
	}
	var lns []net.Listener
	for i, f := range files {
		if err == nil {
			var ln net.Listener
			ln, err = net.FileListener(f)
			if err != nil {
				err = fmt.Errorf("%w: fd %d (%q): %w", ErrActivation, listenFDsStart+i, names[i], err)
			} else {
				lns = append(lns, ln)
			}
		}
		f.Close()
	}
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, nil, err
	}
	return lns, names, nil
}

// parseActivationEnv validates the activation variables for process pid and
// returns the number of fds and their names (padded with "" to n). With an
// error, n is the number of fds passed when it is known (to close them).
func parseActivationEnv(getenv func(string) string, pid int) (int, []string, error) {
	fds := getenv(EnvListenFDs)
	if fds == "" {
		return 0, nil, nil
	}
	if p := getenv(EnvListenPID); p != "" {
		v, err := strconv.Atoi(p)
		if err != nil {
			return 0, nil, fmt.Errorf("%w: %s=%q: not a pid", ErrActivation, EnvListenPID, p)
		}
		if v != pid {
			return 0, nil, nil
		}
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 0 || n > 1024 {
		return 0, nil, fmt.Errorf("%w: %s=%q: want a count 0..1024", ErrActivation, EnvListenFDs, fds)
	}
	names := make([]string, n)
	if raw := getenv(EnvListenFDNames); raw != "" && n > 0 {
		parts := strings.Split(raw, ":")
		if len(parts) != n {
			return n, nil, fmt.Errorf("%w: %s has %d names for %d fds", ErrActivation, EnvListenFDNames, len(parts), n)
		}
		copy(names, parts)
	}
	return n, names, nil
}

// Listener is Listeners for a process that serves one
// TCP listener, as stickyd does: it returns nil, nil without activation, the
// listener when exactly one TCP stream socket was passed, and an error
// wrapping ErrActivation (closing everything passed) otherwise.
func Listener() (net.Listener, error) {
	lns, names, err := Listeners()
	if err != nil || len(lns) == 0 {
		return nil, err
	}
	if len(lns) != 1 || lns[0].Addr().Network() != "tcp" {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, fmt.Errorf("%w: want one TCP listening socket, got %d (%s) named %q", ErrActivation, len(lns), lns[0].Addr().Network(), names)
	}
	return lns[0], nil
}
