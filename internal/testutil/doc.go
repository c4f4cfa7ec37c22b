// Package testutil holds the helpers that stickyd's package tests share:
// polling with a deadline instead of sleeping (CheckFor), counting this
// process's open file descriptors (FDCount), checking that a test leaves
// no goroutines or fds behind (CheckNoLeaks, Baseline), connected Unix
// socket and loopback TCP pairs (SocketPair, Linux only, and TCPPair), a
// log sink to assert on (LogBuffer) and the primary's logged worker exit
// statuses (ExitStatuses), a child process started until it logs its
// address (StartProcess), Prometheus scrapes and series readers (Scrape,
// Gather, MetricValue, Metric, MetricSum, WantMetric, HTTPStatus), a real
// NOTIFY_SOCKET (ListenNotify), the listening-socket lookups of
// /proc/net/tcp (ListeningInode, HoldsListener) and a minimal Socket.IO
// client over websocket (SIOClient, DialSIO).
//
// It is for tests only: import it from _test.go files, never from a
// package's production code. Being under internal/, it is not part of
// stickyd's public API and may change with its tests.
//
// Failures are reported through the testing.TB passed in (t.Fatalf), so the
// helpers must be called on the test's goroutine (or from a t.Cleanup
// function), as for t.FailNow.
//
// # Concurrency
//
// The functions keep no state between calls and are safe to call from
// parallel tests. A Baseline holds counts of the whole process, so a leak
// check is only meaningful for a test that does not run in parallel with
// others (t.Parallel makes other tests' goroutines and fds count).
package testutil
