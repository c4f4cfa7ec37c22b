// The @socket.io/sticky README app (see docs/node.md), as a Node team runs it
// under its own cluster primary: `node app.js`. Under stickyd
// (`stickyd --workers N -- node app.js`) only the worker branch runs. The
// connection handler, empty in the README, holds the events the e2e
// TestNode* tests drive (client.test.mjs).
const cluster = require("cluster");
const http = require("http");
const { Server } = require("socket.io");
const numCPUs = require("os").cpus().length;
const { setupMaster, setupWorker } = require("@socket.io/sticky");
const { createAdapter, setupPrimary } = require("@socket.io/cluster-adapter");

if (cluster.isMaster) {
  console.log(`Master ${process.pid} is running`);

  const httpServer = http.createServer();
  setupMaster(httpServer, {
    loadBalancingMethod: "least-connection",
  });
  setupPrimary();
  httpServer.listen(3000);

  for (let i = 0; i < numCPUs; i++) {
    cluster.fork();
  }

  cluster.on("exit", (worker) => {
    console.log(`Worker ${worker.process.pid} died`);
    cluster.fork();
  });
} else {
  console.log(`Worker ${process.pid} started`);

  const httpServer = http.createServer();
  const io = new Server(httpServer);
  io.adapter(createAdapter());
  // Tests only: SETUP_DELAY_MS defers setupWorker, so that connections
  // handed over at start-up arrive before the app listens for them.
  const delay = parseInt(process.env.SETUP_DELAY_MS || "0", 10);
  if (delay > 0) setTimeout(() => setupWorker(io), delay);
  else setupWorker(io);

  io.on("connection", (socket) => {
    require("./events")(io, socket);
  });
  io.on("ping-all", (cb) => cb(process.pid));
}
