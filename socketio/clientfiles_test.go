package socketio

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeBundle lays out a socket.io-client package (version 9.9.9) in a temp
// folder and returns its dist folder.
func writeBundle(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dist := filepath.Join(root, "dist")
	if err := os.Mkdir(dist, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"../package.json":          `{"name":"socket.io-client","version":"9.9.9"}`,
		"socket.io.js":             "/* full */",
		"socket.io.js.map":         `{"version":3}`,
		"socket.io.min.js":         "/* min */",
		"socket.io.esm.min.js":     "/* esm */",
		"socket.io.esm.min.js.map": `{"version":3,"esm":true}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dist, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dist
}

func TestClientHandlerServesBundleWithETag(t *testing.T) {
	var passed []string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		passed = append(passed, r.Method+" "+r.URL.Path)
		w.WriteHeader(http.StatusTeapot)
	})
	h, err := NewClientHandler(ClientOptions{Dir: writeBundle(t)}, next)
	if err != nil {
		t.Fatal(err)
	}
	if h.Version() != "9.9.9" {
		t.Fatalf("version %q", h.Version())
	}
	cases := []struct {
		method, path, ifNoneMatch string
		status                    int
		body, contentType, srcMap string
	}{
		{"GET", "/socket.io/socket.io.js", "", 200, "/* full */", "application/javascript; charset=utf-8", "socket.io.js.map"},
		{"GET", "/socket.io/socket.io.js.map", "", 200, `{"version":3}`, "application/json; charset=utf-8", ""},
		{"GET", "/socket.io/socket.io.min.js", "", 200, "/* min */", "application/javascript; charset=utf-8", ""},
		{"GET", "/socket.io/socket.io.esm.min.js.map", "", 200, `{"version":3,"esm":true}`, "application/json; charset=utf-8", ""},
		{"HEAD", "/socket.io/socket.io.js", "", 200, "", "application/javascript; charset=utf-8", "socket.io.js.map"},
		{"GET", "/socket.io/socket.io.js", `"9.9.9"`, 304, "", "", ""},
		{"GET", "/socket.io/socket.io.js", `W/"1.0.0", "9.9.9"`, 304, "", "", ""},
		{"GET", "/socket.io/socket.io.js", `"1.0.0"`, 200, "/* full */", "application/javascript; charset=utf-8", "socket.io.js.map"},
		// Not bundle files: the next handler gets them.
		{"GET", "/socket.io/socket.io.min.js.map", "", 418, "", "", ""},
		{"POST", "/socket.io/socket.io.js", "", 418, "", "", ""},
		{"GET", "/socket.io/", "", 418, "", "", ""},
		{"GET", "/other/socket.io.js", "", 418, "", "", ""},
	}
	for _, c := range cases {
		req := httptest.NewRequest(c.method, c.path, nil)
		if c.ifNoneMatch != "" {
			req.Header.Set("If-None-Match", c.ifNoneMatch)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Result()
		if got.StatusCode != c.status || rec.Body.String() != c.body {
			t.Errorf("%s %s (If-None-Match %q): %d %q, want %d %q", c.method, c.path, c.ifNoneMatch, got.StatusCode, rec.Body.String(), c.status, c.body)
			continue
		}
		if c.status == 418 {
			continue
		}
		if got.Header.Get("ETag") != `"9.9.9"` || got.Header.Get("Cache-Control") != "public, max-age=0" {
			t.Errorf("%s %s: caching headers %v", c.method, c.path, got.Header)
		}
		if got.Header.Get("Content-Type") != c.contentType || got.Header.Get("SourceMap") != c.srcMap {
			t.Errorf("%s %s: Content-Type %q SourceMap %q, want %q %q", c.method, c.path,
				got.Header.Get("Content-Type"), got.Header.Get("SourceMap"), c.contentType, c.srcMap)
		}
	}
	if len(passed) != 4 {
		t.Fatalf("next handler got %v, want the 4 requests that are not bundle files", passed)
	}
}

func TestClientHandlerCustomPath(t *testing.T) {
	h, err := NewClientHandler(ClientOptions{Dir: writeBundle(t), Path: "/rt"}, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/rt/socket.io.min.js", nil))
	if rec.Code != 200 || rec.Body.String() != "/* min */" {
		t.Fatalf("GET /rt/socket.io.min.js: %d %q", rec.Code, rec.Body.String())
	}
}

// Bad input: a folder without the bundle, or a package.json without a
// version, gets ErrClientMissing naming the folder; no handler is built.
func TestClientHandlerMissingBundle(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "node_modules", "socket.io-client", "dist")
	_, err := NewClientHandler(ClientOptions{Dir: missing}, http.NotFoundHandler())
	if !errors.Is(err, ErrClientMissing) {
		t.Fatalf("missing folder: %v, want ErrClientMissing", err)
	}
	if want := missing; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "npm") {
		t.Fatalf("error %q does not name %s and the npm command", err, want)
	}
	dist := writeBundle(t)
	if err := os.WriteFile(filepath.Join(dist, "..", "package.json"), []byte(`{"name":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewClientHandler(ClientOptions{Dir: dist}, http.NotFoundHandler()); !errors.Is(err, ErrClientMissing) {
		t.Fatalf("package.json without version: %v, want ErrClientMissing", err)
	}
}
