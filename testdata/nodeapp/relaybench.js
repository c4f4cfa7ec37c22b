// relaybench.js measures how many @socket.io/cluster-adapter messages per
// second the cluster primary relays between workers: each worker sends
// COUNT serverSideEmit messages (in bursts of BURST, one burst per turn of
// its event loop), and counts those it receives from the others. Each
// worker prints one line: "relaybench: pid P sent S received R in T ms".
// The same file runs under Node's own primary (`node relaybench.js`,
// setupPrimary of the cluster adapter) and under stickyd
// (`stickyd --workers N -- node relaybench.js`, stickyd's hub relays), so
// only the primary differs. scripts/compare-node-relay.sh drives both.
//
// Environment: WORKERS (2; Node's primary only), COUNT (100000), BURST
// (100), START_MS (delay before sending, 2000: every worker is up by then).
const cluster = require("cluster");
const http = require("http");
const { Server } = require("socket.io");
const { setupMaster, setupWorker } = require("@socket.io/sticky");
const { createAdapter, setupPrimary } = require("@socket.io/cluster-adapter");

const WORKERS = parseInt(process.env.WORKERS || "2", 10);
const COUNT = parseInt(process.env.COUNT || "100000", 10);
const BURST = parseInt(process.env.BURST || "100", 10);
const START_MS = parseInt(process.env.START_MS || "2000", 10);

if (cluster.isMaster) {
  const httpServer = http.createServer();
  setupMaster(httpServer, { loadBalancingMethod: "least-connection" });
  setupPrimary();
  httpServer.listen(parseInt(process.env.PORT || "3000", 10));
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  let done = 0;
  cluster.on("exit", () => {
    if (++done === WORKERS) process.exit(0);
  });
} else {
  const httpServer = http.createServer();
  const io = new Server(httpServer);
  io.adapter(createAdapter());
  setupWorker(io);
  let received = 0;
  let first = 0;
  let last = 0;
  let sent = 0;
  io.on("tick", () => {
    const now = Date.now();
    if (received === 0) first = now;
    last = now;
    received++;
  });
  const report = () => {
    console.log(`relaybench: pid ${process.pid} sent ${sent} received ${received} in ${last - first} ms`);
    process.exit(0);
  };
  setTimeout(() => {
    const burst = () => {
      for (let i = 0; i < BURST && sent < COUNT; i++, sent++) io.serverSideEmit("tick", sent);
      if (sent < COUNT) setImmediate(burst);
    };
    burst();
    // Done when nothing arrived for a second (every message of the others
    // is in, or lost).
    const idle = setInterval(() => {
      if (received > 0 && Date.now() - last > 1000) {
        clearInterval(idle);
        report();
      }
    }, 200);
  }, START_MS);
}
