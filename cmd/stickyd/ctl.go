package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stickyd/stickyd/operator"
)

// ctlCommands are the subcommands that talk to a running primary.
var ctlCommands = map[string]string{
	operator.CommandStatus: "print the workers of the running stickyd (--json for JSON)",
	operator.CommandReload: "start a new generation of workers and drain the old one; exits 1 with the reason if it fails",
	operator.CommandStop:   "drain the workers and stop the running stickyd",
}

// ctlTimeout bounds a status or stop request; reload waits as long as the
// primary takes (it is bounded by its start timeout).
const ctlTimeout = 10 * time.Second

// runCtl runs `stickyd status|reload|stop [--control PATH] [--json]`.
func runCtl(cmd string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("stickyd "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	control := fs.String("control", "", "path of the running stickyd's operator socket (default "+operator.DefaultPath()+")")
	var asJSON *bool
	if cmd == operator.CommandStatus {
		asJSON = fs.Bool("json", false, "print the status as JSON")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: stickyd %s [flags]\n\n%s.\n\nFlags:\n", cmd, ctlCommands[cmd])
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return exitOK
		}
		fmt.Fprintf(stderr, "stickyd %s: %v\n", cmd, err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "stickyd %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return exitUsage
	}
	path := *control
	if path == "" {
		path = operator.DefaultPath()
	}
	ctx := context.Background()
	if cmd != operator.CommandReload {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ctlTimeout)
		defer cancel()
	}
	resp, err := operator.Call(ctx, path, cmd)
	if err != nil {
		fmt.Fprintf(stderr, "stickyd %s: %v\n", cmd, err)
		return exitError
	}
	switch {
	case cmd == operator.CommandStatus && *asJSON:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(resp.Status)
	case cmd == operator.CommandStatus:
		printStatus(stdout, resp.Status)
	case cmd == operator.CommandReload:
		fmt.Fprintln(stdout, "reloaded")
	case cmd == operator.CommandStop:
		fmt.Fprintln(stdout, "stopping")
	}
	return exitOK
}

// printStatus writes st as a table of workers and a totals line.
func printStatus(w io.Writer, st *operator.StatusReport) {
	if st == nil {
		fmt.Fprintln(w, "no status")
		return
	}
	fmt.Fprintf(w, "stickyd pid %d, generation %d\n\n", st.PID, st.Generation)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tINSTANCE\tPID\tGEN\tSTATE\tUPTIME\tSESSIONS\tCONNS\tRESTARTS")
	for _, wk := range st.Workers {
		up := time.Duration(wk.UptimeSec * float64(time.Second)).Round(time.Second)
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\t%s\t%d\t%d\t%d\n",
			wk.Slot, wk.Instance, wk.PID, wk.Generation, wk.State, up, wk.Sessions, wk.Connections, wk.Restarts)
	}
	tw.Flush()
	t := st.Totals
	fmt.Fprintf(w, "\ntotal: %d workers (%d ready in generation %d), %d sessions, %d connections\n",
		t.Workers, t.Ready, st.Generation, t.Sessions, t.Connections)
	r := st.Reload
	switch {
	case r.InProgress:
		fmt.Fprintf(w, "reload: generation %d starting\n", r.Generation)
	case r.Count > 0 && r.Error != "":
		fmt.Fprintf(w, "last reload: generation %d FAILED at %s: %s\n", r.Generation, r.At.Format(time.RFC3339), r.Error)
	case r.Count > 0:
		fmt.Fprintf(w, "last reload: generation %d ok at %s\n", r.Generation, r.At.Format(time.RFC3339))
	}
	if len(r.Draining) > 0 {
		gens := make([]string, len(r.Draining))
		for i, g := range r.Draining {
			gens[i] = fmt.Sprint(g)
		}
		fmt.Fprintf(w, "draining generations: %s\n", strings.Join(gens, ", "))
	}
	printFleet(w, st.Fleet)
}

// printFleet lists the fleet's hosts, when there is a fleet.
func printFleet(w io.Writer, hosts []operator.FleetHostReport) {
	if len(hosts) == 0 {
		return
	}
	fmt.Fprintf(w, "\nfleet: %d hosts\n", len(hosts))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tADDRESS\tRELAYS")
	for _, h := range hosts {
		name := fmt.Sprint(h.ID)
		if h.Self {
			name += " (this host)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", name, h.Addr, h.Relays)
	}
	tw.Flush()
}
