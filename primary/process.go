package primary

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/hashicorp/go-hclog"
)

// process is a started worker process, leader of its own process group.
type process struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed once the leader is reaped and its group killed

	mu     sync.Mutex
	reaped bool
}

// startProcess starts argv with env (and files as fds 3, 4 ...) in a new process group that is killed
// when the primary dies (Pdeathsig). Its stdout and stderr lines are logged
// to log. The returned process is reaped by a goroutine; done closes after
// that and after the rest of its group has been SIGKILLed.
func startProcess(argv, env []string, files []*os.File, log hclog.Logger) (*process, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.ExtraFiles = files
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	log = log.With("pid", p.pid)
	var logs sync.WaitGroup
	logs.Add(2)
	go func() { defer logs.Done(); logLines(outR, log, hclog.Info) }()
	go func() { defer logs.Done(); logLines(errR, log, hclog.Warn) }()
	go func() {
		cmd.Wait()
		p.mu.Lock()
		p.reaped = true
		// Kill what is left of the group (a wrapper's children) so nothing
		// outlives its worker.
		syscall.Kill(-p.pid, syscall.SIGKILL)
		p.mu.Unlock()
		logs.Wait()
		close(p.done)
	}()
	return p, nil
}

// Kill sends SIGKILL to the process group. It is idempotent and safe for
// concurrent use, and does nothing once the leader has been reaped (the
// reaper has killed the group then). A nil process is ignored.
func (p *process) Kill() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reaped {
		syscall.Kill(-p.pid, syscall.SIGKILL)
	}
}

// Terminate sends SIGTERM to the process (the leader only), unless it
// has been reaped. Safe for concurrent use.
func (p *process) Terminate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.reaped {
		syscall.Kill(p.pid, syscall.SIGTERM)
	}
}

// exitStatus describes how the leader ended; valid after done is closed.
func (p *process) exitStatus() string {
	if st := p.cmd.ProcessState; st != nil {
		return st.String()
	}
	return "unknown"
}

// logLines logs each line read from r until EOF, then closes r. Lines in
// hclog's JSON or text format keep their level (and JSON fields); other
// lines are logged at level def.
func logLines(r io.ReadCloser, log hclog.Logger, def hclog.Level) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 256<<10)
	for sc.Scan() {
		level, msg, args := parseLogLine(sc.Text(), def)
		log.Log(level, msg, args...)
	}
	io.Copy(io.Discard, r) // a line too long ends scanning; keep draining
}

// parseLogLine recognises a line written by hclog in JSON or text format.
func parseLogLine(line string, def hclog.Level) (hclog.Level, string, []any) {
	if strings.HasPrefix(line, "{") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			lv, _ := m["@level"].(string)
			msg, _ := m["@message"].(string)
			if lv != "" {
				level := hclog.LevelFromString(lv)
				if level == hclog.NoLevel || level == hclog.Off {
					level = def
				}
				keys := make([]string, 0, len(m))
				for k := range m {
					if !strings.HasPrefix(k, "@") {
						keys = append(keys, k)
					}
				}
				sort.Strings(keys)
				args := make([]any, 0, 2*len(keys))
				for _, k := range keys {
					args = append(args, k, m[k])
				}
				return level, msg, args
			}
		}
	}
	// hclog text: "<timestamp> [LEVEL] message"
	if i := strings.Index(line, " ["); i >= 0 && i < 40 {
		rest := line[i+2:]
		if j := strings.IndexByte(rest, ']'); j > 0 && j < 6 {
			if level := hclog.LevelFromString(rest[:j]); level != hclog.NoLevel {
				return level, strings.TrimSpace(rest[j+1:]), nil
			}
		}
	}
	return def, line, nil
}
