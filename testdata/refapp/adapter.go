package main

import (
	"github.com/hashicorp/go-hclog"

	"github.com/stickyd/stickyd/socketio"
	"github.com/stickyd/stickyd/worker"
)

// clusterAdapter installs the stickyd cluster adapter when running under
// stickyd; standalone the in-memory default stays.
func clusterAdapter(ln *worker.Listener, opts *socketio.Options, logger hclog.Logger) error {
	return nil
}
