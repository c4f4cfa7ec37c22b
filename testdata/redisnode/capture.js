"use strict";
// Captures the Redis messages that the real @socket.io/redis-adapter 8.3.0 and
// @socket.io/redis-emitter 5.1.0 publish, for redisproto's golden tests.
//
//   REDIS_URL=redis://127.0.0.1:P node capture.js > ../../redisproto/testdata/node-golden.json
//
// A recorder connection PSUBSCRIBEs to "*" and writes every message it sees,
// labelled with the operation that produced it, as JSON lines of
// {name, channel, hex}. It also SUBSCRIBEs to the request channel, so that
// PUBSUB NUMSUB counts 2 servers and the adapter publishes its requests (they
// time out after 300 ms, unanswered, which is expected). The responses are
// the adapter's answers to requests the script publishes as a foreign server
// with uid "GOLDEN".

const Redis = require("ioredis");
const { createAdapter } = require("@socket.io/redis-adapter");
const { Emitter } = require("@socket.io/redis-emitter");
const msgpack = require("notepack.io");

const { newRecorder, run, redisURL, startServer } = require("./recorder");

const REDIS_URL = redisURL();

async function main() {
  const { records, record, step } = newRecorder();
  const recorder = new Redis(REDIS_URL);
  recorder.on("pmessageBuffer", (_pattern, channel, msg) => {
    record(channel, msg);
  });
  await recorder.psubscribe("*");
  await recorder.subscribe("socket.io-request#/#");

  const { io, stop } = await startServer(REDIS_URL, (pub, sub) => createAdapter(pub, sub, { requestsTimeout: 300 }), { auth: { token: "t0k" }, query: { room: "r1" } });
  io.of("/custom");

  const publisher = new Redis(REDIS_URL);
  const foreign = (obj) => publisher.publish("socket.io-request#/#", JSON.stringify(obj));

  await step("broadcast-all", 1, () => io.emit("hello", "world", 1));
  await step("broadcast-room-binary", 1, () =>
    io.to("room1").emit("bin", Buffer.from([1, 2, 3]), { a: 1.5, nested: [true, null, "é"] })
  );
  await step("broadcast-flags", 1, () =>
    io.to(["r1", "r2"]).except("x").volatile.compress(true).emit("f", -1, 300, 70000, 5000000000, -200000, 0.5, -33, 128)
  );
  await step("broadcast-date", 1, () => io.emit("d", new Date(1700000000123)));
  await step("broadcast-custom-nsp", 1, () => io.of("/custom").emit("c", "x"));
  await step("sockets-join", 1, () => io.in("room1").socketsJoin(["x"]));
  await step("sockets-leave", 1, () => io.in("room1").socketsLeave("x"));
  await step("disconnect-sockets", 1, () => io.in("nobody").disconnectSockets(true));
  await step("fetch-sockets-request", 1, () => io.in("room1").fetchSockets().catch(() => {}));
  await step("all-rooms-request", 1, () => io.of("/").adapter.allRooms().catch(() => {}));
  await step("server-side-emit", 1, () => io.serverSideEmit("ping", 1));
  await step("server-side-emit-ack-request", 1, () => io.serverSideEmit("ping-all", () => {}));
  await step("broadcast-ack-request", 1, () => io.to("nobody").timeout(300).emit("question", 1, () => {}));
  await new Promise((r) => setTimeout(r, 400)); // let the requests above time out

  // Responses of the adapter to requests of a foreign server.
  await step("fetch-sockets-response", 1, () =>
    foreign({ uid: "GOLDEN", requestId: "rq0001", type: 5, opts: { rooms: ["room1"], except: [] } })
  );
  await step("all-rooms-response", 1, () => foreign({ uid: "GOLDEN", requestId: "rq0002", type: 1 }));
  await step("server-side-emit-response", 1, () =>
    foreign({ uid: "GOLDEN", requestId: "rq0003", type: 6, data: ["ping-all"] })
  );
  await step("broadcast-ack-responses", 2, () =>
    publisher.publish(
      "socket.io-request#/#",
      msgpack.encode({
        uid: "GOLDEN",
        requestId: "rq0004",
        type: 7,
        packet: { type: 2, data: ["question", 1], nsp: "/" },
        opts: { rooms: ["room1"], except: [], flags: { timeout: 500 } },
      })
    )
  );

  const emitter = new Emitter(publisher);
  await step("emitter-room", 1, () => emitter.to("room1").emit("from-emitter", 42, Buffer.from([9])));
  await step("emitter-flags", 1, () => emitter.to("a").to("b").except("c").volatile.emit("e"));
  await step("emitter-sockets-join", 1, () => emitter.in("room1").socketsJoin("y"));
  await step("emitter-sockets-leave", 1, () => emitter.in("room1").socketsLeave(["y"]));
  await step("emitter-disconnect", 1, () => emitter.in("nobody").disconnectSockets());
  await step("emitter-server-side-emit", 1, () => emitter.serverSideEmit("hi", { x: 1 }));
  await step("emitter-custom-nsp", 1, () => emitter.of("/custom").emit("c", 2));

  // Drop the messages the script itself published (foreign requests).
  const out = records.filter((r) => !(r.channel === "socket.io-request#/#" && r.name.endsWith("-response") || r.name === "broadcast-ack-responses" && r.channel.startsWith("socket.io-request")));
  for (const r of out) process.stdout.write(JSON.stringify(r) + "\n");

  stop();
  for (const c of [recorder, publisher]) c.disconnect();
}

run(main);
