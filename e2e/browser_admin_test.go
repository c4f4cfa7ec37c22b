package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stickyd/stickyd/internal/testutil"
	"golang.org/x/crypto/bcrypt"
)

// The official Admin UI (npm @socket.io/admin-ui, served by the demo at
// /admin/) refuses a wrong password, logs in with the right one, and
// lists the sockets, rooms and servers of both workers.
func TestBrowserAdminUI(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	browser := newBrowser(t)
	c := startDemo(t, 2, "-admin-user", "root", "-admin-password-hash", string(hash))
	red, blue := tabsOnTwoWorkers(t, browser, c.URL+"/room/red?name=ruby", c.URL+"/room/blue?name=navy")
	redState, blueState := red.connected(), blue.connected()

	ui := openTab(t, browser, "admin", c.URL+"/admin/")
	ui.run("point the UI at the demo", evaluate(`localStorage.setItem("server_url", location.origin)`))
	// A wrong password: the server refuses it (and logs so), the dialog
	// stays open with the UI's message for "invalid credentials".
	ui.adminLogin(c.URL+"/admin/", "root", "wrong")
	testutil.CheckFor(t, browserTimeout, 20*time.Millisecond, func() error {
		if !strings.Contains(c.Logs(), "admin login refused: username=root") {
			return fmt.Errorf("no refused login of root in the log")
		}
		return nil
	})
	ui.run("wrong password refused", chromedp.WaitVisible(chromedp.CSS(".v-dialog--active input[type=password]")))
	ui.waitText("the wrong password refused", "#/", "Invalid credentials")
	ui.adminLogin(c.URL+"/admin/", "root", "s3cret")
	ui.run("login accepted", chromedp.WaitNotVisible(chromedp.CSS(".v-dialog")))

	ui.waitText("sockets of both workers", "#/sockets/", redState.SocketID, blueState.SocketID)
	ui.screenshot("sockets")
	ui.waitText("rooms of both workers", "#/rooms/", "red", "blue")
	ui.screenshot("rooms")
	ui.waitText("both workers", "#/servers/", fmt.Sprintf("%d", redState.PID), fmt.Sprintf("%d", blueState.PID))
	ui.screenshot("servers")
}

// evaluate runs a JavaScript expression for its effect.
func evaluate(js string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[any](js)(ctx, target)
		return chromedp.Void{}, err
	}
}

// adminLogin loads the Admin UI at url and, once its connection dialog
// shows (after its automatic attempt without credentials failed), types
// user and password and submits with Enter (the dialog slides in, so a
// click could miss its moving button).
func (tb *tab) adminLogin(url, user, password string) {
	tb.t.Helper()
	field := func(label string) chromedp.CSS {
		return chromedp.CSS(fmt.Sprintf(".v-dialog--active input[data-field=%q]", label))
	}
	tb.run("log in as "+user,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(".v-dialog--active input[type=password]")),
		// Vuetify ties each input to its label; tag them by label text.
		evaluate(`for (const l of document.querySelectorAll(".v-dialog--active label")) {
			const input = document.getElementById(l.htmlFor);
			if (input) input.dataset.field = l.textContent.trim();
		}`),
		chromedp.SendKeys(field("Username"), user),
		chromedp.SendKeys(field("Password"), password+"\r"),
	)
}

// waitText opens the UI's route (a location hash) and waits until the
// page's text contains every one of want.
func (tb *tab) waitText(what, route string, want ...string) {
	tb.t.Helper()
	tb.run("open "+route, evaluate(fmt.Sprintf("location.hash = %q", route)))
	deadline := time.Now().Add(browserTimeout)
	var text string
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body.innerText"))
		cancel()
		if err == nil {
			text = got
			missing := ""
			for _, w := range want {
				if !strings.Contains(text, w) {
					missing = w
					break
				}
			}
			if missing == "" {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.screenshot("timeout")
			tb.t.Fatalf("tab %s: %s: %q not all in the page:\n%s", tb.name, what, want, text)
		}
		time.Sleep(100 * time.Millisecond) // poll interval, not synchronisation
	}
}
