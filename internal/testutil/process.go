package testutil

import (
	"bufio"
	"io"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// StartProcess starts cmd, kills it when the test ends, and returns what
// group 1 of re matches in the first matching line of out (an address the
// process logs when it listens); the other lines are logged. It fails the
// test when the process exits first or logs no match within 20 s.
func StartProcess(t testing.TB, what string, cmd *exec.Cmd, out io.Reader, re *regexp.Regexp) string {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			} else {
				t.Log(what + ": " + sc.Text())
			}
		}
		_ = cmd.Wait()
		close(waited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-waited
	})
	select {
	case a := <-addr:
		return a
	case <-waited:
		t.Fatalf("%s exited before listening", what)
	case <-time.After(20 * time.Second):
		t.Fatalf("%s not listening within 20 s", what)
	}
	return ""
}
