"use strict";
// Captures the Redis messages that the real sharded @socket.io/redis-adapter
// 8.3.0 (createShardedAdapter, subscriptionMode "dynamic") publishes, for
// redisproto's sharded golden tests.
//
//   REDIS_URL=redis://127.0.0.1:P node capture-sharded.js > ../../redisproto/testdata/node-sharded-golden.jsonl
//
// A recorder connection SSUBSCRIBEs to the main channel, a room channel and
// the private channel of a foreign server with uid "GOLDEN" and writes every
// message it sees as JSON lines of {name, channel, hex}. Being subscribed to
// the main channel, it counts as a second server (PUBSUB SHARDNUMSUB), so the
// adapter publishes its requests (they time out after 300 ms, unanswered).
// The responses are the adapter's answers to requests the script publishes
// as the foreign server.

const Redis = require("ioredis");
const { createShardedAdapter } = require("@socket.io/redis-adapter");
const msgpack = require("notepack.io");

const { newRecorder, run, redisURL, startServer } = require("./recorder");

const REDIS_URL = redisURL();

async function main() {
  const { records, record, step } = newRecorder();
  const recorder = new Redis(REDIS_URL);
  recorder.on("smessageBuffer", (channel, msg) => {
    record(channel, msg);
  });
  await recorder.ssubscribe("socket.io#/#", "socket.io#/#room1#", "socket.io#/#GOLDEN#");

  const { io, stop } = await startServer(REDIS_URL, (pub, sub) => createShardedAdapter(pub, sub, { requestsTimeout: 300 }), { auth: { token: "t0k" } });

  const publisher = new Redis(REDIS_URL);
  const foreign = (obj, bin) => publisher.spublish("socket.io#/#", bin ? msgpack.encode(obj) : JSON.stringify(obj));

  await step("broadcast-room", 1, () => io.to("room1").emit("ev", { a: 1.5 }));
  await step("broadcast-all-binary", 1, () => io.emit("bin", Buffer.from([1, 2, 3]), { a: 1.5, nested: [true, null, "é"] }));
  await step("broadcast-flags", 1, () => io.to(["r1", "r2"]).except("x").volatile.compress(true).emit("f", -1, 300, 0.5));
  await step("sockets-join", 1, () => io.in("room1").socketsJoin(["x"]));
  await step("sockets-leave", 1, () => io.in("room1").socketsLeave("x"));
  await step("disconnect-sockets", 1, () => io.in("nobody").disconnectSockets(true));
  await step("fetch-sockets-request", 1, () => io.in("room1").fetchSockets().catch(() => {}));
  await step("server-side-emit", 1, () => io.serverSideEmit("ping", 1));
  await step("server-side-emit-ack-request", 1, () => io.serverSideEmit("ping-all", () => {}));
  await step("broadcast-ack-request", 1, () => io.to("room1").timeout(300).emit("question", 1, () => {}));
  await new Promise((r) => setTimeout(r, 400)); // let the requests above time out

  const base = { uid: "GOLDEN", nsp: "/" };
  await step("fetch-sockets-response", 2, () =>
    foreign({ ...base, type: 7, data: { opts: { rooms: ["room1"], except: [], flags: {} }, requestId: "rq0001" } })
  );
  await step("server-side-emit-response", 2, () =>
    foreign({ ...base, type: 9, data: { requestId: "rq0003", packet: ["ping-all"] } })
  );
  await step("broadcast-ack-responses", 3, () =>
    foreign(
      { ...base, type: 3, data: { opts: { rooms: ["room1"], except: [], flags: { timeout: 500 } }, packet: { type: 2, data: ["question", Buffer.from([7])] }, requestId: "rq0004" } },
      true
    )
  );

  // Drop the messages the script itself published (foreign requests).
  const out = records.filter((r) => !(r.channel === "socket.io#/#" && r.name.endsWith("-response") || r.name === "broadcast-ack-responses" && r.channel === "socket.io#/#"));
  for (const r of out) process.stdout.write(JSON.stringify(r) + "\n");

  stop();
  for (const c of [recorder, publisher]) c.disconnect();
}

run(main);
