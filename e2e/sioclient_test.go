package e2e

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/stickyd/stickyd/internal/testutil"
)

// sioClient is the shared Socket.IO test client; its Packets carry the
// events (Name, Args) the refapp sends.
type sioClient = testutil.SIOClient

// dialSIO connects to the main namespace and waits for the refapp's "auth".
func dialSIO(addr string) (*sioClient, error) {
	c, err := testutil.DialSIO(addr, testutil.SIOOptions{})
	if err != nil {
		return nil, err
	}
	if err := c.Connect(""); err != nil {
		c.Close()
		return nil, err
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case p := <-c.Packets():
			if p.Type != '2' || p.Args == nil {
				continue
			}
			if p.Name != "auth" {
				c.Close()
				return nil, fmt.Errorf("first event %q, want auth", p.Name)
			}
			return c, nil
		case <-c.Done():
			return nil, fmt.Errorf("closed before auth")
		case <-deadline:
			c.Close()
			return nil, fmt.Errorf("no auth event within 5s")
		}
	}
}

// whoamiPID asks the refapp's whoami for the worker's pid.
func whoamiPID(c *sioClient) (int, error) {
	a, err := c.EmitAck(5*time.Second, "whoami")
	if err != nil {
		return 0, err
	}
	var res []struct{ PID int }
	if err := json.Unmarshal(a, &res); err != nil || len(res) != 1 {
		return 0, fmt.Errorf("whoami ack %s: %v", a, err)
	}
	return res[0].PID, nil
}
