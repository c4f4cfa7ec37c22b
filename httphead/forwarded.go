package httphead

import (
	"bytes"
	"net/netip"
	"strings"
)

// ForwardedFor returns the client address named by the X-Forwarded-For
// headers of the request head at the start of b (request line included):
// the rightmost entry for which isProxy (is it a trusted proxy?) is
// false. isProxy gets addresses unmapped (IPv4-mapped IPv6 as IPv4). Header names match case-insensitively; several headers are
// read in order, as one list. complete=false means the head
// has not ended yet within b; ok=false means there is no usable entry.
func ForwardedFor(b []byte, isProxy func(netip.Addr) bool) (client netip.Addr, ok, complete bool) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return client, false, false
	}
	var entries []string
	for _, line := range bytes.Split(b[:end], []byte("\r\n"))[1:] {
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found || !strings.EqualFold(string(bytes.TrimSpace(name)), "X-Forwarded-For") {
			continue
		}
		for _, e := range strings.Split(string(value), ",") {
			entries = append(entries, strings.TrimSpace(e))
		}
	}
	for i := len(entries) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(entries[i])
		if err != nil {
			if ap, err2 := netip.ParseAddrPort(entries[i]); err2 == nil {
				a = ap.Addr()
			} else {
				return client, false, true // garbage: do not trust anything left of it
			}
		}
		a = a.Unmap() // ::ffff:10.0.0.1 is the proxy 10.0.0.1
		if !isProxy(a) {
			return a, true, true
		}
	}
	return client, false, true
}
