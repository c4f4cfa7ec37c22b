package admin_test

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/stickyd/stickyd/admin"
	"github.com/stickyd/stickyd/socketio"
)

// Serve the Socket.IO Admin UI's namespace with a login. Every worker of
// a cluster does the same; the UI then shows all of them.
func ExampleInstrument() {
	io := socketio.NewServer(socketio.Options{}) // under stickyd: Adapter: cluster.Adapter
	defer io.Close()

	_, err := admin.Instrument(io, admin.Options{
		Auth: &admin.BasicAuth{Username: "admin", PasswordHash: "plain text"},
	})
	fmt.Println("plain password refused:", errors.Is(err, admin.ErrBadPasswordHash))

	hash, _ := bcrypt.GenerateFromPassword([]byte("changeit"), bcrypt.DefaultCost)
	a, err := admin.Instrument(io, admin.Options{
		Auth:       &admin.BasicAuth{Username: "admin", PasswordHash: string(hash)},
		Namespaces: []string{"/", "/chat"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	fmt.Println("the UI connects to", admin.DefaultNamespace)
	// Output:
	// plain password refused: true
	// the UI connects to /admin
}
