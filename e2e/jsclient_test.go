package e2e

import "testing"

// The official socket.io-client against the refapp under stickyd, with
// every transport; see testdata/jsclient/*.test.mjs for the cases.
func TestJSClientTransports(t *testing.T) {
	c := startCluster(t, 2, nil, "CONFORMANCE=1")
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
