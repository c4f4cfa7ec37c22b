"use strict";
// A Node fleet member for stickyd's Redis interop tests: one socket.io 4.8
// process with @socket.io/redis-adapter 8.3.0 (classic mode, ioredis 5).
// It serves the bench kit's event set (../../README.md, "The reference app's
// event set") and the CLUSTER_OPS events of testdata/refapp/ops.go, with the
// same names and answers, so that one test drives a Go peer and this one alike.
//
// Environment:
//   PORT       listening port on 127.0.0.1 (0: any; the chosen one is printed)
//   REDIS_URL  redis://127.0.0.1:P (required)
//   REDIS_KEY  key prefix (default "socket.io")
//   REDIS_SHARDED=1  createShardedAdapter (Redis 7 SSUBSCRIBE/SPUBLISH)
//              instead of createAdapter; REDIS_SUBSCRIPTION_MODE is its
//              subscriptionMode (default "dynamic")
//
// Prints "redisnode: listening on 127.0.0.1:PORT" once its Redis
// subscriptions are in place. Stops on SIGTERM/SIGINT.

const http = require("node:http");
const { Server } = require("socket.io");
const Redis = require("ioredis");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");

const REDIS_URL = process.env.REDIS_URL;
const REDIS_KEY = process.env.REDIS_KEY || "socket.io";
const PORT = parseInt(process.env.PORT || "0", 10);
if (!REDIS_URL) {
  console.error("redisnode: REDIS_URL is required");
  process.exit(2);
}

const pub = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
const sub = pub.duplicate();
for (const c of [pub, sub]) c.on("error", (err) => console.error("redisnode: redis:", err.message));

const httpServer = http.createServer();
const io = new Server(httpServer);
if (process.env.REDIS_SHARDED === "1") {
  const subscriptionMode = process.env.REDIS_SUBSCRIPTION_MODE || "dynamic";
  io.adapter(createShardedAdapter(pub, sub, { channelPrefix: REDIS_KEY, subscriptionMode, requestsTimeout: 3000 }));
} else {
  io.adapter(createAdapter(pub, sub, { key: REDIS_KEY, requestsTimeout: 3000 }));
}
const pid = process.pid;
const isFn = (f) => typeof f === "function";

// target: {to: [...], except: [...], local: bool}, as refapp's opTarget.
function operator(target) {
  let op = io.to((target && target.to) || []).except((target && target.except) || []);
  if (target && target.local) op = op.local;
  return op;
}

function result(responses, err) {
  const r = { responses: responses || [] };
  if (err) r.error = err.message || String(err);
  return r;
}

io.on("connection", (socket) => {
  socket.emit("auth", socket.handshake.auth);
  socket.on("message", (...args) => socket.emit("message-back", ...args));
  socket.on("message-with-ack", (...args) => {
    const ack = args.pop();
    if (isFn(ack)) ack(...args);
  });
  socket.on("whoami", (ack) => isFn(ack) && ack({ pid }));
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (isFn(ack)) ack(pid);
  });
  socket.on("leave", (room, ack) => {
    socket.leave(room);
    if (isFn(ack)) ack(pid);
  });
  socket.on("broadcast", (room, payload, ack) => {
    io.to(room).emit("bcast", payload);
    if (isFn(ack)) ack("ok");
  });
  socket.on("count", async (room, ack) => {
    try {
      ack((await io.in(room).fetchSockets()).length);
    } catch (err) {
      ack(-1);
    }
  });
  socket.on("server-ping", (ack) => {
    io.serverSideEmit("ping-all", (err, responses) => ack(Array.isArray(responses) ? responses.length : 0));
  });

  // CLUSTER_OPS
  socket.on("op-set-data", (data, ack) => {
    socket.data = data;
    ack(pid);
  });
  socket.on("op-emit", (target, event, payload, ack) => {
    operator(target).emit(event, payload);
    ack(pid);
  });
  socket.on("op-emit-bin", (target, ack) => {
    operator(target).emit("bin", Buffer.from([1, 2, 3]), { k: 1 });
    ack(pid);
  });
  socket.on("op-sockets-join", (target, room, ack) => {
    operator(target).socketsJoin(room);
    ack(pid);
  });
  socket.on("op-sockets-leave", (target, room, ack) => {
    operator(target).socketsLeave(room);
    ack(pid);
  });
  socket.on("op-disconnect", (target, close, ack) => {
    operator(target).disconnectSockets(close);
    ack(pid);
  });
  socket.on("op-fetch", async (target, ack) => {
    try {
      const sockets = await operator(target).fetchSockets();
      ack(sockets.map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data, auth: s.handshake.auth, handshake: s.handshake })));
    } catch (err) {
      ack([]);
    }
  });
  socket.on("op-remote", async (target, action, arg, ack) => {
    try {
      const sockets = await operator(target).fetchSockets();
      for (const s of sockets) {
        if (action === "emit") s.emit("remote", arg);
        else if (action === "join") s.join(arg);
        else if (action === "leave") s.leave(arg);
        else if (action === "disconnect") s.disconnect(false);
      }
      ack(result([]));
    } catch (err) {
      ack(result([], err));
    }
  });
  // the callback form gives the acks that arrived along with a timeout error
  socket.on("op-emit-ack", (target, timeoutMS, ack) => {
    operator(target)
      .timeout(timeoutMS)
      .emit("question", pid, (err, responses) => ack(result(responses, err)));
  });
  socket.on("op-sse-ack", (arg, ack) => {
    io.serverSideEmit("sse-echo", arg, (err, responses) => ack(result(responses, err)));
  });
  socket.on("op-sse", (arg, ack) => {
    io.serverSideEmit("sse-note", arg);
    ack(result([]));
  });
  socket.on("op-server-count", async (ack) => ack(await io.of("/").adapter.serverCount()));
  socket.on("op-rooms", async (ack) => {
    const rooms = await io.of("/").adapter.allRooms();
    ack([...rooms].sort());
  });
});

io.on("ping-all", (cb) => isFn(cb) && cb(pid));
io.on("sse-echo", (arg, cb) => isFn(cb) && cb([pid, arg]));
io.on("sse-note", (arg) => io.local.emit("sse-note", arg, pid));

io.of("/custom").on("connection", (socket) => socket.emit("auth", socket.handshake.auth));

// Ready once both connections answer a PING queued behind the SUBSCRIBEs.
Promise.all([pub.ping(), sub.ping()]).then(() => {
  httpServer.listen(PORT, "127.0.0.1", () => {
    console.log(`redisnode: listening on 127.0.0.1:${httpServer.address().port} pid=${pid}`);
  });
});

const stop = () => {
  io.close();
  pub.disconnect();
  sub.disconnect();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
