package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestJSClientAdminProtocol speaks the Admin UI's protocol with the
// official client to the demo on 2 workers (testdata/jsclient/
// admin.test.mjs): logins, session ids accepted by every worker, the
// sockets and stats of both workers, the live feed, and the actions on
// sockets of either worker, bad input ignored.
func TestJSClientAdminProtocol(t *testing.T) {
	requireNode(t)
	if _, err := os.Stat(filepath.Join(demoAssets(), "node_modules", "socket.io-client")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the demo needs `npm ci --prefix examples/demo`: %v", err)
		}
		t.Skipf("examples/demo/node_modules missing (npm ci --prefix examples/demo): %v", err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("pa55"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	c := startDemo(t, 2, "-admin-user", "ops", "-admin-password-hash", string(hash))
	runNode(t, c.URL, 2, "admin.test.mjs", "ADMIN_USER=ops", "ADMIN_PASSWORD=pa55")
}
