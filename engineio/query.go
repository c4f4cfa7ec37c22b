package engineio

import (
	"net/url"
	"strings"
)

// requestParams are the query parameters Engine.IO routes a request by.
type requestParams struct {
	transport, sid, eio string
}

// parseRequestParams reads transport, sid and EIO from a raw query as
// url.ParseQuery followed by Values.Get would (the first value of each;
// pairs with a semicolon or a bad escape are skipped), without building
// the map of every parameter: a request of a session needs only these.
func parseRequestParams(raw string) requestParams {
	var p requestParams
	var seen [3]bool
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		key, ok := unescapeQuery(key)
		if !ok {
			continue
		}
		var i int
		var dst *string
		switch key {
		case "transport":
			i, dst = 0, &p.transport
		case "sid":
			i, dst = 1, &p.sid
		case "EIO":
			i, dst = 2, &p.eio
		default:
			continue
		}
		value, ok = unescapeQuery(value)
		if !ok || seen[i] {
			continue
		}
		seen[i], *dst = true, value
	}
	return p
}

// unescapeQuery is url.QueryUnescape, without an allocation for a string
// that has nothing to unescape.
func unescapeQuery(s string) (string, bool) {
	if !strings.ContainsAny(s, "%+") {
		return s, true
	}
	u, err := url.QueryUnescape(s)
	return u, err == nil
}
