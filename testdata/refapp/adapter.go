package main

import (
	"github.com/hashicorp/go-hclog"

	"github.com/stickyd/stickyd/adapter"
	"github.com/stickyd/stickyd/socketio"
	"github.com/stickyd/stickyd/worker"
)

// clusterAdapter installs the stickyd cluster adapter: under stickyd rooms,
// broadcasts and server-side emits span every worker; standalone it hands
// out the in-memory adapter. It joins the hub before the worker reports
// ready.
func clusterAdapter(ln *worker.Listener, opts *socketio.Options, logger hclog.Logger) error {
	cluster, err := adapter.New(ln, adapter.Options{Logger: logger.Named("adapter")})
	if err != nil {
		return err
	}
	opts.Adapter = cluster.Adapter
	return nil
}
