package redisemitter

import (
	"encoding/json"
	"fmt"
)

// rawArgs encodes [event, ...args] as JSON for a server-side emit.
func rawArgs(event string, args []any) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(args)+1)
	j, _ := json.Marshal(event)
	out = append(out, j)
	for i, a := range args {
		j, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("redisemitter: argument %d: %w", i, err)
		}
		out = append(out, j)
	}
	return out, nil
}
