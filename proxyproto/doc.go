// Package proxyproto parses the PROXY protocol header a load balancer
// puts in front of a TCP stream to name the client it accepted (HAProxy's
// specification): version 1, one text line ("PROXY TCP4 src dst sport
// dport\r\n", ParseV1), and version 2, the binary form with TLVs over TCP
// (ParseV2, and AppendV2 to write one: stickyd's hosts put one in front
// of each connection they relay to another host of the fleet).
//
// Like httphead, it works on the bytes peeked at the start of a
// connection: ParseV1 says whether they hold a complete header and how
// long it is, so the caller consumes exactly the header and hands the
// rest of the stream on untouched.
//
// # Concurrency
//
// Every function is pure: safe for concurrent use, no shared state.
package proxyproto
