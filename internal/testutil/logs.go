package testutil

import "regexp"

// exitedRE matches the primary's "worker exited" log line (text format).
var exitedRE = regexp.MustCompile(`worker exited: .*instance=(\d+).*status="([^"]+)"`)

// ExitStatuses returns, by instance id, the exit status a primary's text
// log (a LogBuffer's, or stickyd's stderr) reports for each worker that
// exited; a later line for the same instance wins.
func ExitStatuses(logs string) map[string]string {
	out := map[string]string{}
	for _, m := range exitedRE.FindAllStringSubmatch(logs, -1) {
		out[m[1]] = m[2]
	}
	return out
}
