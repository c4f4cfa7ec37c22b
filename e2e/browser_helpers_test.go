package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The browser tests (TestBrowser...) run the demo app (examples/demo)
// under stickyd and drive headless Chromium through the DevTools
// protocol. They need Chromium (Debian's chromium; $CHROMIUM names
// another binary) and `npm ci --prefix examples/demo`; without them they
// fail under CI=true and are skipped otherwise. Each saves screenshots to
// its artifact directory (go test -artifacts -outputdir DIR keeps them;
// otherwise a failing test copies them to a kept temporary folder) and
// logs their paths.

// browserTimeout bounds every wait on what a page shows.
const browserTimeout = 45 * time.Second

var demoBuild struct {
	once sync.Once
	path string
	err  error
}

// demoBinary builds examples/demo once (with -race when the tests run
// with it) and returns its path.
func demoBinary(t *testing.T) string {
	t.Helper()
	demoBuild.once.Do(func() {
		demoBuild.path = filepath.Join(filepath.Dir(bins.stickyd), "demo")
		args := []string{"build", "-o", demoBuild.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./examples/demo")...)
		cmd.Dir = bins.root
		if out, err := cmd.CombinedOutput(); err != nil {
			demoBuild.err = fmt.Errorf("go build ./examples/demo: %v\n%s", err, out)
		}
	})
	if demoBuild.err != nil {
		t.Fatal(demoBuild.err)
	}
	return demoBuild.path
}

// demoAssets is the folder whose node_modules the demo serves from.
func demoAssets() string { return filepath.Join(bins.root, "examples", "demo") }

// requireBrowser returns Chromium's path, after checking the demo's npm
// packages; it skips the test (fails it under CI) when either is missing.
func requireBrowser(t *testing.T) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	if _, err := os.Stat(filepath.Join(demoAssets(), "node_modules", "socket.io-client", "dist", "socket.io.js")); err != nil {
		missing("browser tests need `npm ci --prefix examples/demo`: %v", err)
	}
	candidates := []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"}
	for _, name := range candidates {
		if name == "" {
			continue
		}
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	missing("browser tests need Chromium (apt-get install chromium, or $CHROMIUM): none of %q found", candidates[1:])
	return ""
}

// startDemo runs stickyd with workers demo workers and demo's extra flags.
func startDemo(t *testing.T, workers int, demoFlags ...string) *cluster {
	t.Helper()
	app := append([]string{demoBinary(t), "-assets", demoAssets()}, demoFlags...)
	return launchApp(t, workers, nil, []string{"--listen", "127.0.0.1:0"}, nil, app)
}

// newBrowser starts headless Chromium for the test; it ends with the test.
// Every host but 127.0.0.1 fails to resolve, so pages that reference the
// Internet (the Admin UI's fonts) load at once and offline.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := requireBrowser(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 800),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	if err := chromedp.Do(browser); err != nil {
		cancelAlloc()
		t.Fatalf("start Chromium %s: %v", exe, err)
	}
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	return browser
}

// tab is one browser tab.
type tab struct {
	t      *testing.T
	name   string
	ctx    context.Context
	cancel context.CancelFunc
}

// openTab opens url in a new tab of browser, waiting for its load event.
// Each tab has its own browser context (profile), as two users would: the
// tabs of one profile share keep-alive connections, and stickyd leaves a
// connection, and a handshake sent on it, with the worker it went to.
func openTab(t *testing.T, browser context.Context, name, url string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	tb := &tab{t: t, name: name, ctx: ctx, cancel: cancel}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("tab %s: %v", name, err)
	}
	t.Cleanup(cancel)
	tb.run("open "+url, chromedp.Navigate(url))
	return tb
}

// run runs actions in the tab under browserTimeout, failing the test on error.
func (tb *tab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, browserTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.screenshot("failed")
		tb.t.Fatalf("tab %s: %s: %v", tb.name, what, err)
	}
}

// close closes the tab (its page and connections go away).
func (tb *tab) close() { tb.cancel() }

// demoState is what the demo page shows.
type demoState struct {
	PID       int            `json:"pid"`
	SocketID  string         `json:"socketId"`
	Transport string         `json:"transport"`
	Status    string         `json:"status"`
	Rooms     map[string]int `json:"rooms"`
	Messages  []string       `json:"messages"`
}

// demoStateJS reads demoState from the page's DOM: what a user sees.
const demoStateJS = `(() => {
  const q = (s) => document.querySelector(s);
  return {
    pid: Number(q("#pid").dataset.pid || 0),
    socketId: q("#tab").dataset.socketId || "",
    transport: q("#transport").dataset.transport || "",
    status: q("#status").textContent,
    rooms: Object.fromEntries([...document.querySelectorAll("#rooms li[data-room]")]
      .map((li) => [li.dataset.room, Number(li.dataset.count)])),
    messages: [...document.querySelectorAll("#messages li.msg")]
      .map((li) => li.querySelector(".who").textContent + ": " + li.querySelector(".text").textContent),
  };
})()`

func (tb *tab) state() (demoState, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[demoState](demoStateJS))
}

// waitFor polls the page until check accepts its state, and returns it.
func (tb *tab) waitFor(what string, check func(demoState) error) demoState {
	tb.t.Helper()
	var last demoState
	deadline := time.Now().Add(browserTimeout)
	for {
		st, err := tb.state()
		if err == nil {
			last = st
			if err = check(st); err == nil {
				return st
			}
		}
		if time.Now().After(deadline) {
			tb.screenshot("timeout")
			tb.t.Fatalf("tab %s: %s: %v (page shows %+v)", tb.name, what, err, last)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, not synchronisation
	}
}

// connected waits until the tab is connected with a pid and transport.
func (tb *tab) connected() demoState {
	tb.t.Helper()
	return tb.waitFor("connected", func(st demoState) error {
		if st.Status != "connected" || st.PID == 0 || st.Transport == "" {
			return errors.New("not connected")
		}
		return nil
	})
}

// roomCount waits until the room list shows room with n members (n = 0:
// absent).
func (tb *tab) roomCount(room string, n int) demoState {
	tb.t.Helper()
	return tb.waitFor(fmt.Sprintf("room %q with %d members", room, n), func(st demoState) error {
		if st.Rooms[room] != n {
			return fmt.Errorf("room %q has %d members", room, st.Rooms[room])
		}
		return nil
	})
}

// say types text in the page's message field and presses Enter.
func (tb *tab) say(text string) {
	tb.t.Helper()
	tb.run("send "+text, chromedp.SendKeys(chromedp.CSS("#text"), text+"\r"))
}

// sees waits until the tab shows the chat line "name: text".
func (tb *tab) sees(line string) {
	tb.t.Helper()
	tb.waitFor("message "+line, func(st demoState) error {
		for _, m := range st.Messages {
			if m == line {
				return nil
			}
		}
		return fmt.Errorf("no %q in %q", line, st.Messages)
	})
}

// screenshot saves the tab's page as NAME-LABEL.png in the test's
// artifact directory and logs the path.
func (tb *tab) screenshot(label string) string {
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Logf("screenshot of tab %s: %v", tb.name, err)
		return ""
	}
	path := filepath.Join(screenshotDir(tb.t), safeName(tb.name+"-"+label)+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.t.Logf("screenshot of tab %s: %v", tb.name, err)
		return ""
	}
	tb.t.Logf("screenshot: %s", path)
	return path
}

var screenshotDirs sync.Map // *testing.T -> string

// screenshotDir is the test's artifact directory. Without -artifacts that
// directory goes away with the test, so a failing test copies it to a
// temporary folder that stays, and logs where.
func screenshotDir(t *testing.T) string {
	if dir, ok := screenshotDirs.Load(t); ok {
		return dir.(string)
	}
	dir := t.ArtifactDir()
	screenshotDirs.Store(t, dir)
	if f := flag.Lookup("test.artifacts"); f == nil || f.Value.String() != "true" {
		t.Cleanup(func() {
			screenshotDirs.Delete(t)
			if !t.Failed() {
				return
			}
			kept, err := os.MkdirTemp("", "stickyd-"+safeName(t.Name())+"-")
			if err == nil {
				err = os.CopyFS(kept, os.DirFS(dir))
			}
			if err != nil {
				t.Logf("keeping screenshots: %v", err)
				return
			}
			t.Logf("screenshots kept in %s", kept)
		})
	}
	return dir
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r == ':' {
			return '_'
		}
		return r
	}, s)
}

// tabsOnTwoWorkers opens first, then second until its tab lands on
// another worker than first's (stickyd balances new sessions; a tab on
// the same worker is closed and another opened).
func tabsOnTwoWorkers(t *testing.T, browser context.Context, first, second string) (*tab, *tab) {
	t.Helper()
	a := openTab(t, browser, "A", first)
	pidA := a.connected().PID
	for attempt := 0; attempt < 8; attempt++ {
		b := openTab(t, browser, fmt.Sprintf("B%d", attempt), second)
		if b.connected().PID != pidA {
			b.name = "B"
			return a, b
		}
		b.close()
	}
	t.Fatalf("8 tabs in a row landed on worker %d", pidA)
	return nil, nil
}
