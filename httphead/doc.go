// Package httphead reads the head of an HTTP/1.x request from the bytes
// peeked at the start of a connection, without consuming them: the request
// line and its Engine.IO session id (ParseRequestLine), and the client
// address a trusted proxy put in X-Forwarded-For (ForwardedFor).
//
// The parsers work on prefixes: given the bytes that have arrived so far,
// they say "complete", "not yet" (a valid prefix: peek again when more
// bytes arrive) or an error for bytes that can never become a request
// head. They never retain the slice they are given. ParseRequestLine runs
// on stickyd's accept loop for every connection; it allocates nothing but
// the strings it returns (BenchmarkParseRequestLine reports it).
//
// # Concurrency
//
// Every function is pure: safe for concurrent use, no shared state.
package httphead
