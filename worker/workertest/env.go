package workertest

import (
	"sort"
	"testing"

	"github.com/stickyd/stickyd/ipc"
)

// Getenv returns the value of the STICKYD_* variable key a worker spawned
// by this Primary would see, "" for any other key. Pass it as
// worker.Options.Getenv.
func (p *Primary) Getenv(key string) string { return p.env[key] }

// Environ returns the worker's STICKYD_* variables as "KEY=value"
// strings, sorted, for exec.Cmd.Env (append them to os.Environ()).
func (p *Primary) Environ() []string {
	vars := make([]string, 0, len(p.env))
	for k, v := range p.env {
		vars = append(vars, k+"="+v)
	}
	sort.Strings(vars)
	return vars
}

// Setenv sets the worker's STICKYD_* variables in this process for the
// duration of the test (t.Setenv: not with t.Parallel), for an app that
// calls worker.Listen.
func (p *Primary) Setenv(t testing.TB) {
	t.Helper()
	for k, v := range p.env {
		t.Setenv(k, v)
	}
}

// Secret returns the instance's secret (STICKYD_SECRET, decoded).
func (p *Primary) Secret() [32]byte { return p.secret }

// Instance returns the worker's instance id.
func (p *Primary) Instance() uint32 { return p.opts.Instance }

// Hello waits for the worker's control link and returns its Hello. The
// error wraps ErrBadHello when the Hello was not right (the worker was
// then refused), ErrTimeout when the worker did not connect in time.
func (p *Primary) Hello() (ipc.Message, error) {
	if err := p.waitConnected(); err != nil {
		return ipc.Message{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hello, p.helloErr
}
