package engineio

import (
	"net/http"
	"strconv"
	"strings"
)

// applyCORS sets CORS headers as Node's cors module does. It reports whether
// the request was a preflight it answered (204, empty body).
func applyCORS(c *CORSOptions, w http.ResponseWriter, r *http.Request) bool {
	if c == nil {
		return false
	}
	h := w.Header()
	switch c.Origin {
	case "*":
		h.Set("Access-Control-Allow-Origin", "*")
	case "":
		if o := r.Header.Get("Origin"); o != "" {
			h.Set("Access-Control-Allow-Origin", o)
		}
		h.Add("Vary", "Origin")
	default:
		h.Set("Access-Control-Allow-Origin", c.Origin)
		h.Add("Vary", "Origin")
	}
	if c.Credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if r.Method != http.MethodOptions {
		return false
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(c.Methods, ","))
	if len(c.AllowedHeaders) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(c.AllowedHeaders, ","))
	} else {
		h.Add("Vary", "Access-Control-Request-Headers")
		if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
			h.Set("Access-Control-Allow-Headers", rh)
		}
	}
	if c.MaxAge > 0 {
		h.Set("Access-Control-Max-Age", strconv.FormatInt(int64(c.MaxAge.Seconds()), 10))
	}
	writeEmpty(w, http.StatusNoContent)
	return true
}
