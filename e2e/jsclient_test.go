package e2e

import (
	"testing"

	"github.com/stickyd/stickyd/internal/testutil"
)

// fastPings is the refapp environment of tests that want a ping every
// 300 ms (pongs interleave with the test's requests, so they are routed
// too) but test no ping timeout: CONFORMANCE's 200 ms pingTimeout loses a
// session whenever a loaded machine (-race, a busy CI runner) delays a
// pong past it, as the worker's timer fires before it reads the pong.
var fastPings = []string{"CONFORMANCE=1", "PING_TIMEOUT_MS=5000"}

// The official socket.io-client against the refapp under stickyd, with
// every transport; see testdata/jsclient/*.test.mjs for the cases.
func TestJSClientTransports(t *testing.T) {
	c := startCluster(t, 2, nil, fastPings...)
	runNode(t, c.URL, 2, "transports.test.mjs")
}

func TestJSClientNamespacesAndMiddlewares(t *testing.T) {
	c := startCluster(t, 2, nil)
	runNode(t, c.URL, 2, "namespaces.test.mjs")
}

func TestJSClientPingTimeoutAndReconnect(t *testing.T) {
	c := startCluster(t, 2, nil, "CONFORMANCE=1")
	runNode(t, c.URL, 2, "lifecycle.test.mjs")
}

func TestJSClientRecovery(t *testing.T) {
	c := startCluster(t, 2, nil, "RECOVERY=1")
	runNode(t, c.URL, 2, "recovery.test.mjs", "RECOVERY=1")
}

// Rooms span every worker: the cluster adapter relays through the hub.
func TestJSClientRoomsAcrossWorkers(t *testing.T) {
	c := startCluster(t, 3, nil)
	runNode(t, c.URL, 3, "rooms.test.mjs")
}

// TestJSClientClusterOperations drives every cluster adapter operation
// (to / except / local, socketsJoin / socketsLeave / disconnectSockets,
// fetchSockets and remote sockets, serverSideEmit with and without acks,
// broadcast acks with a timeout, serverCount, the room listing) from a
// worker that holds none of the target sockets, across 3 worker processes.
func TestJSClientClusterOperations(t *testing.T) {
	c := startCluster(t, 3, nil, "CLUSTER_OPS=1")
	runNode(t, c.URL, 3, "clusterops.test.mjs")
}

// TestJSClientOverHTTPS: with --tls-cert the official client connects over
// https:// and wss:// with every transport, and every request of a
// session still reaches its worker (the primary terminates TLS and relays
// each connection to the worker its sid names). Node trusts the test
// certificate through NODE_EXTRA_CA_CERTS, as a deployment's own CA would
// be trusted.
func TestJSClientOverHTTPS(t *testing.T) {
	cert := testutil.NewTestCert(t)
	c := startCluster(t, 2, []string{"--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile}, fastPings...)
	runNode(t, "https://"+c.Addr, 2, "transports.test.mjs", "NODE_EXTRA_CA_CERTS="+cert.CertFile)
}
