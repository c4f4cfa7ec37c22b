"use strict";
// Shared by capture.js and capture-sharded.js: a list of recorded Redis
// messages labelled with the step that produced them, and the script runner.

function newRecorder() {
  const records = [];
  let label = "none";
  // record adds one message under the current step's name.
  const record = (channel, msg) => records.push({ name: label, channel: channel.toString(), hex: msg.toString("hex") });
  // step runs fn under name and waits until `count` messages more were recorded.
  async function step(name, count, fn) {
    label = name;
    const want = records.length + count;
    await fn();
    const deadline = Date.now() + 3000;
    while (records.length < want) {
      if (Date.now() > deadline) throw new Error(`capture: ${name}: ${records.length} of ${want} messages`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { records, record, step };
}

// run runs main and exits 0, or 1 with its error.
function run(main) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    }
  );
}

// redisURL is REDIS_URL, required.
function redisURL() {
  if (!process.env.REDIS_URL) {
    console.error("capture: REDIS_URL is required");
    process.exit(2);
  }
  return process.env.REDIS_URL;
}

// startServer starts a socket.io server on 127.0.0.1 with the adapter
// makeAdapter(pub, sub) builds and one connected client (in "room1", with
// socket data and a "question" ack handler), and answers "ping-all".
async function startServer(url, makeAdapter, clientOpts) {
  const http = require("node:http");
  const { Server } = require("socket.io");
  const { io: connect } = require("socket.io-client");
  const Redis = require("ioredis");
  const pub = new Redis(url);
  const sub = pub.duplicate();
  const httpServer = http.createServer();
  const io = new Server(httpServer);
  io.adapter(makeAdapter(pub, sub));
  io.on("connection", (socket) => {
    socket.join("room1");
    socket.data = { user: "ada", n: 1 };
    socket.on("question", () => {});
  });
  io.on("ping-all", (cb) => cb("pong"));
  await Promise.all([pub.ping(), sub.ping()]);
  await new Promise((r) => httpServer.listen(0, "127.0.0.1", r));
  const client = connect(`http://127.0.0.1:${httpServer.address().port}`, { transports: ["websocket"], ...clientOpts });
  client.on("question", (n, ack) => ack("client-ack"));
  await new Promise((r) => client.on("connect", r));
  await new Promise((r) => setTimeout(r, 100));
  const stop = () => {
    client.close();
    io.close();
    pub.disconnect();
    sub.disconnect();
    httpServer.close();
  };
  return { io, stop };
}

module.exports = { newRecorder, run, redisURL, startServer };
