"use strict";
// Publishes through @socket.io/redis-emitter 5.1.0, for the interop tests:
//   REDIS_URL=redis://... node emit.js ROOM
// emits "from-node-emitter" (42, Buffer [7]) to ROOM, then makes ROOM's
// sockets join "emitter-joined", and exits.
const Redis = require("ioredis");
const { Emitter } = require("@socket.io/redis-emitter");
const client = new Redis(process.env.REDIS_URL);
const emitter = new Emitter(client);
emitter.to(process.argv[2]).emit("from-node-emitter", 42, Buffer.from([7]));
emitter.in(process.argv[2]).socketsJoin("emitter-joined");
client.quit().then(() => process.exit(0));
