package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/stickyd/stickyd/socketio"
)

func Example() {
	io := socketio.NewServer(socketio.Options{ConnectTimeout: 10 * time.Second})
	io.Use(func(s *socketio.Socket) error {
		var auth struct{ Token string }
		if json.Unmarshal(s.Handshake().Auth, &auth) != nil || auth.Token == "" {
			return &socketio.ConnectError{Message: "not authorized", Data: map[string]string{"hint": "send a token"}}
		}
		return nil
	})
	io.OnConnection(func(s *socketio.Socket) {
		_ = s.On("join", func(room string, ack func(...any)) {
			s.Join(room)
			_ = s.To(room).Emit("joined", s.ID())
			if ack != nil {
				ack("ok")
			}
		})
		_ = s.On("raw", func(args []json.RawMessage, ack socketio.AckFunc) {
			_ = io.Emit("raw", toAny(args)...) // pass-through, JSON untouched
		})
		s.OnDisconnect(func(reason string) {})
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	answers, err := io.Timeout(time.Second).EmitWithAck(ctx, "ready?")
	if errors.Is(err, socketio.ErrTimeout) {
		_ = answers // the answers that arrived in time
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io) // then http.ListenAndServe(addr, mux)
	_ = io.Close()
	// Output:
}

func toAny(raw []json.RawMessage) []any {
	out := make([]any, len(raw))
	for i, r := range raw {
		out[i] = r
	}
	return out
}
