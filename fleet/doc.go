// Package fleet is the membership of a fleet of stickyd hosts: which host
// ids are live and where each one is reached (its advertised HOST:PORT),
// and the shared secret that proves a connection between hosts comes from
// a member.
//
// A host's id (1..65535) is unique in the fleet and stable for the host's
// lifetime; it is the high 16 bits of every worker instance id the host
// assigns, so every sid names its host (ipc.SIDHost).
//
// Two ways to form a fleet:
//
//   - Redis (Options.RedisURL): each host claims its id with SET NX and a
//     lease (Options.LeaseTTL, renewed every third of it), either the id
//     it was pinned to (Options.HostID; held by another host: Join fails
//     with ErrHostIDTaken) or a random free one. The record holds the
//     advertised address and an HMAC of id and address under the fleet
//     secret, so a record written by anyone without the secret is ignored.
//     Every host polls the records (SCAN + MGET, every
//     Options.PollInterval): a host that stops renewing disappears from the
//     others' view within the lease, one that shuts down at once (Close
//     deletes its record). While Redis is unreachable the last view is
//     kept.
//   - Static (Options.Peers): the ids and addresses are given; nothing is
//     claimed and nothing changes.
//
// Hosts authenticate each other with the shared secret: Header seals a
// PROXY protocol v2 header with an HMAC-SHA256 TLV (type AuthTLV) over the
// whole header, the sender's id and a timestamp; Verify accepts it only
// from a live member, within MaxClockSkew.
//
// # Concurrency
//
// A Fleet's methods are safe for concurrent use. Join starts one
// goroutine (lease renewal and polling, Redis only), which Close stops and
// waits for.
package fleet
