// Package balance holds the policies the primary uses to pick a worker for a
// connection that carries no session id.
//
// A Policy sees the candidate workers as a slice of Worker values (the
// primary's ready workers of the newest generation) and returns the index of
// the chosen one. Policies: least-conn (default), round-robin, random and
// ip-hash (rendezvous hashing on the worker's slot number, so that a client
// keeps its worker when another slot's worker is respawned, and gets it back
// after its own slot is respawned).
//
// # Concurrency
//
// Pick is meant to run under the primary's routing lock, but every Policy
// returned by New is also safe for concurrent use on its own: the only state
// (round-robin and tie-break counters) is updated atomically. Pick never
// blocks and does not allocate.
package balance
