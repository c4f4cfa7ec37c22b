// Package proxyproto parses the PROXY protocol header a load balancer
// puts in front of a TCP stream to name the client it accepted (HAProxy's
// specification, version 1: one text line, "PROXY TCP4 src dst sport
// dport\r\n"). Version 2, the binary form, is not parsed yet.
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
