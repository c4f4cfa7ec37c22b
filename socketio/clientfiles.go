package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// ErrClientMissing is returned by NewClientHandler when the folder holds
// no socket.io-client bundle (the npm package is not installed there).
var ErrClientMissing = errors.New("socketio: socket.io-client bundle not found")

// DefaultClientDir is where NewClientHandler looks for the bundle when
// ClientOptions.Dir is empty: the dist folder of the socket.io-client npm
// package installed next to the working directory.
const DefaultClientDir = "node_modules/socket.io-client/dist"

// clientFileNames are the bundle files served, as Node's serveClient does
// (socket.io(.msgpack|.esm)?(.min)?.js and their source maps).
var clientFileNames = []string{
	"socket.io.js", "socket.io.min.js", "socket.io.esm.min.js", "socket.io.msgpack.min.js",
}

// ClientOptions configure a ClientHandler.
type ClientOptions struct {
	// Dir is the dist folder of the socket.io-client npm package
	// (default DefaultClientDir). Its parent's package.json gives the
	// version used as the files' ETag.
	Dir string
	// Path is the Socket.IO path the files are served under (default
	// DefaultPath): Path+"socket.io.js" and the others.
	Path string
}

// clientFile is one bundle file held in memory.
type clientFile struct {
	body        []byte
	contentType string
	sourceMap   string // name of its map, for the SourceMap header; empty for a map
}

// ClientHandler serves the official client bundle the way Node's
// serveClient option does: GET or HEAD of Path+"socket.io.js",
// ".min.js", ".esm.min.js", ".msgpack.min.js" and their ".map" files,
// with the client's version as ETag (a matching If-None-Match gets 304)
// and "Cache-Control: public, max-age=0". Every other request goes to the
// next handler (normally the *Server), so one mux entry serves both:
//
//	client, err := socketio.NewClientHandler(socketio.ClientOptions{}, io)
//	mux.Handle(socketio.DefaultPath, client)
//
// The files are read once, by NewClientHandler; the client's code is never
// part of this module.
//
// # Concurrency
//
// A ClientHandler is immutable once built and safe for concurrent use.
type ClientHandler struct {
	next  http.Handler
	path  string
	etag  string
	files map[string]clientFile
}

// NewClientHandler reads the bundle from opts.Dir and returns a handler
// that serves it and passes other requests to next. It returns an error
// wrapping ErrClientMissing, which names the folder and the npm command
// that installs the package, when socket.io.js is not there.
func NewClientHandler(opts ClientOptions, next http.Handler) (*ClientHandler, error) {
	dir := opts.Dir
	if dir == "" {
		dir = DefaultClientDir
	}
	h := &ClientHandler{next: next, path: opts.Path, files: map[string]clientFile{}}
	if h.path == "" {
		h.path = DefaultPath
	}
	if !strings.HasSuffix(h.path, "/") {
		h.path += "/"
	}
	if _, err := os.Stat(filepath.Join(dir, "socket.io.js")); err != nil {
		return nil, fmt.Errorf("%w in %s (install it: npm install socket.io-client, or npm ci in the folder whose package.json names it): %v",
			ErrClientMissing, dir, err)
	}
	version, err := clientVersion(dir)
	if err != nil {
		return nil, err
	}
	h.etag = `"` + version + `"`
	for _, name := range clientFileNames {
		if err := h.load(dir, name); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// load reads name and its map into h; a bundle variant this version of
// the package does not ship is skipped.
func (h *ClientHandler) load(dir, name string) error {
	body, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("socketio: client bundle: %w", err)
	}
	file := clientFile{body: body, contentType: "application/javascript; charset=utf-8"}
	mapBody, err := os.ReadFile(filepath.Join(dir, name+".map"))
	switch {
	case err == nil:
		file.sourceMap = name + ".map"
		h.files[name+".map"] = clientFile{body: mapBody, contentType: "application/json; charset=utf-8"}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("socketio: client bundle: %w", err)
	}
	h.files[name] = file
	return nil
}

// clientVersion reads the version field of dir/../package.json.
func clientVersion(dir string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "..", "package.json"))
	if err != nil {
		return "", fmt.Errorf("%w: no package.json next to %s: %v", ErrClientMissing, dir, err)
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(raw, &pkg); err != nil || pkg.Version == "" {
		return "", fmt.Errorf("%w: %s/../package.json has no version", ErrClientMissing, dir)
	}
	return pkg.Version, nil
}

// Version is the version of the bundle served (its ETag without quotes).
func (h *ClientHandler) Version() string { return strings.Trim(h.etag, `"`) }

// ServeHTTP serves a bundle file, or hands the request to the next handler.
func (h *ClientHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, h.path)
	file, found := h.files[name]
	if !ok || !found || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		h.next.ServeHTTP(w, r)
		return
	}
	header := w.Header()
	header.Set("Cache-Control", "public, max-age=0")
	header.Set("ETag", h.etag)
	if etagMatches(r.Header.Get("If-None-Match"), h.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	header.Set("Content-Type", file.contentType)
	header.Set("Content-Length", fmt.Sprint(len(file.body)))
	if file.sourceMap != "" {
		header.Set("SourceMap", file.sourceMap)
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(file.body)
	}
}

// etagMatches reports whether an If-None-Match header names etag (or *).
func etagMatches(ifNoneMatch, etag string) bool {
	for _, candidate := range strings.Split(ifNoneMatch, ",") {
		candidate = strings.TrimPrefix(strings.TrimSpace(candidate), "W/")
		if candidate == etag || candidate == "*" {
			return true
		}
	}
	return false
}
