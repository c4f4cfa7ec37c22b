// Package workertest is a fake stickyd primary for testing a worker app
// (a program that links package worker) without stickyd, in the spirit of
// net/http/httptest.
//
// [New] creates a private socket directory (mode 0700), listens on a
// control socket (SOCK_SEQPACKET) and a hub socket with the real ipc wire
// format, and makes the environment a worker reads (STICKYD_SOCKET,
// STICKYD_INSTANCE, STICKYD_SECRET, …; see docs/architecture.md,
// "Environment given to a worker"). Give it to the worker with
// worker.Options.Getenv = [Primary.Getenv], with [Primary.Setenv] for an
// app that calls worker.Listen, or with [Primary.Environ] for a worker
// process started by the test. The Primary accepts the worker's control
// link, checks its Hello (instance and secret) and answers Welcome.
//
// A test then hands the worker real TCP connections: [Primary.Dial]
// returns the client side of a loopback connection whose server side went
// to the worker by SCM_RIGHTS, as the primary's hand-off does;
// [Primary.HandOff] sends a connection the test made itself. The worker's
// messages (Ready, Load, HandBack) come on [Primary.Messages] and through
// [Primary.Next], [Primary.WaitLoad] and [Primary.HandBack];
// [Primary.Drain] and [Primary.Retire] send the primary's requests, and
// [Primary.CloseLink] plays the primary going away. [Primary.AcceptHub]
// takes the worker's hub link after checking its Hello frame.
//
// Methods that wait give up after Options.Timeout with an error wrapping
// [ErrTimeout].
//
// A worker whose primary goes away exits the process (worker.Options.Exit,
// os.Exit by default) shortly after: in a test, set Exit, or close the
// worker's Listener and let it close its link ([Primary.WaitClosed])
// before [Primary.Close].
//
// # Concurrency
//
// Every method is safe for concurrent use. A Primary runs two goroutines
// while the worker is connected: one accepts the worker's control link
// and answers its Hello, one receives its messages into the channel
// Messages returns (buffered; a worker sending more than its capacity
// while nobody reads blocks on its link, as with a real primary). Both end
// at Close, which also closes every received fd nobody took.
package workertest
