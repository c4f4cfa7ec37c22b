package worker

import (
	"encoding/hex"
	"fmt"
	"strconv"
)

// Environment variables set by the primary for every worker it spawns.
const (
	EnvSocket     = "STICKYD_SOCKET"
	EnvHubSocket  = "STICKYD_HUB_SOCKET"
	EnvInstance   = "STICKYD_INSTANCE"
	EnvWorkerID   = "STICKYD_WORKER_ID"
	EnvGeneration = "STICKYD_GENERATION"
	EnvSecret     = "STICKYD_SECRET"
	EnvWorkers    = "STICKYD_WORKERS"
)

// env is the parsed STICKYD_* environment of a managed worker.
type env struct {
	socket     string
	hubSocket  string
	instance   uint32
	workerID   int
	generation int
	secret     [32]byte
}

// readEnv parses the environment; getenv is os.Getenv outside tests.
func readEnv(getenv func(string) string) (env, error) {
	e := env{socket: getenv(EnvSocket), hubSocket: getenv(EnvHubSocket)}
	inst, err := strconv.ParseUint(getenv(EnvInstance), 10, 32)
	if err != nil || inst == 0 {
		return e, fmt.Errorf("%w: %s=%q: want a decimal instance id > 0", ErrEnv, EnvInstance, getenv(EnvInstance))
	}
	e.instance = uint32(inst)
	s := getenv(EnvSecret)
	if n, err := hex.Decode(e.secret[:], []byte(s)); err != nil || n != 32 || len(s) != 64 {
		return e, fmt.Errorf("%w: %s must be 64 hex characters", ErrEnv, EnvSecret)
	}
	for _, v := range []struct {
		name string
		dst  *int
	}{{EnvWorkerID, &e.workerID}, {EnvGeneration, &e.generation}} {
		s := getenv(v.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return e, fmt.Errorf("%w: %s=%q: want a decimal number >= 0", ErrEnv, v.name, s)
		}
		*v.dst = n
	}
	return e, nil
}

// standaloneAddr is the TCP address a standalone worker listens on:
// $HOST:$PORT, port 3000 when PORT is unset.
func standaloneAddr(getenv func(string) string) string {
	port := getenv("PORT")
	if port == "" {
		port = "3000"
	}
	return getenv("HOST") + ":" + port
}
