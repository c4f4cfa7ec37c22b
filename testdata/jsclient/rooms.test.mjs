// Rooms that span every worker: exactly-once delivery, cluster-wide counts
// and server-side emits with acks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { clientsOnEveryWorker, connect, checkFor, WORKERS } from "./lib.mjs";

test("a broadcast reaches every member once, across workers, and no one else", async () => {
  const { sockets, pids, byPid } = await clientsOnEveryWorker(3);
  try {
    const room = "r-" + Math.random().toString(36).slice(2);
    // on every worker: two members and at least one socket outside the room
    const members = [...byPid.values()].flatMap((l) => l.slice(0, 2));
    const others = sockets.filter((s) => !members.includes(s));
    const memberPids = new Set();
    for (const s of members) memberPids.add(await s.timeout(5000).emitWithAck("join", room));
    assert.equal(memberPids.size, pids.size, "members should sit on every worker");
    assert.equal(await sockets[0].timeout(5000).emitWithAck("count", room), members.length);

    const got = new Map(sockets.map((s) => [s, []]));
    for (const s of sockets) s.on("bcast", (p) => got.get(s).push(p));
    const sender = others[0];
    for (let i = 0; i < 5; i++) assert.equal(await sender.timeout(5000).emitWithAck("broadcast", room, "m" + i), "ok");
    await checkFor(() => members.every((s) => got.get(s).length >= 5));
    // a last broadcast to a room of every socket is a barrier: once each
    // socket has it, anything wrongly sent earlier has arrived too
    const all = "all-" + room;
    for (const s of sockets) await s.timeout(5000).emitWithAck("join", all);
    await sender.timeout(5000).emitWithAck("broadcast", all, "barrier");
    await checkFor(() => sockets.every((s) => got.get(s).includes("barrier")));
    for (const s of members) assert.deepEqual(got.get(s), ["m0", "m1", "m2", "m3", "m4", "barrier"]);
    for (const s of others) assert.deepEqual(got.get(s), ["barrier"]);
  } finally {
    sockets.forEach((s) => s.close());
  }
});

test("leave takes a socket out of the cluster-wide count", async () => {
  const { sockets } = await clientsOnEveryWorker(1);
  try {
    const room = "l-" + Math.random().toString(36).slice(2);
    for (const s of sockets) await s.timeout(5000).emitWithAck("join", room);
    assert.equal(await sockets[0].timeout(5000).emitWithAck("count", room), sockets.length);
    await sockets[1 % sockets.length].timeout(5000).emitWithAck("leave", room);
    assert.equal(await sockets[0].timeout(5000).emitWithAck("count", room), sockets.length - 1);
  } finally {
    sockets.forEach((s) => s.close());
  }
});

test("server-ping is answered by every other worker", async () => {
  const s = await connect({ transports: ["websocket"] });
  try {
    assert.equal(await s.timeout(8000).emitWithAck("server-ping"), WORKERS - 1);
  } finally {
    s.close();
  }
});
