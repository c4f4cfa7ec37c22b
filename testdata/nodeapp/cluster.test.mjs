// Every cluster-adapter operation, from a worker that holds none (or only
// some) of the target sockets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { onEveryWorker, ask, askAll, checkFor, room, WORKERS } from "./lib.mjs";

test("rooms across workers: broadcast, except, socketsJoin/Leave, fetchSockets, remote emit, acks, disconnect", async () => {
  const { sockets, byPid } = await onEveryWorker(3);
  try {
    const r = room("r");
    const members = [...byPid.values()].flatMap((l) => l.slice(0, 2));
    for (const s of members) await ask(s, "join", r);
    const got = new Map(sockets.map((s) => [s, []]));
    for (const s of sockets) s.on("bcast", (p) => got.get(s).push(p));

    // broadcast from a socket of one worker reaches members on every worker once
    assert.equal(await ask(members[0], "broadcast", r, "m1"), "ok");
    await checkFor(() => members.every((s) => got.get(s).length === 1));
    for (const s of sockets) if (!members.includes(s)) assert.deepEqual(got.get(s), []);

    // except
    const ex = room("x");
    await ask(members[1], "join", ex);
    await ask(members[0], "broadcast-except", r, ex, "m2");
    await checkFor(() => members.filter((s) => s !== members[1]).every((s) => got.get(s).includes("m2")));

    // fetchSockets counts every member on every worker
    const [n, ids] = await askAll(members[0], "count", r);
    assert.equal(n, members.length);
    assert.deepEqual(new Set(ids), new Set(members.map((s) => s.id)));

    // socketsJoin / socketsLeave across workers
    const j = room("j");
    await ask(members[0], "sockets-join", r, j);
    await checkFor(async () => (await ask(members[0], "count", j)) === members.length);
    await ask(members[0], "sockets-leave", r, j);
    await checkFor(async () => (await ask(members[0], "count", j)) === 0);

    // remote sockets from fetchSockets can be emitted to
    const remote = new Map(members.map((s) => [s, 0]));
    for (const s of members) s.on("remote", () => remote.set(s, remote.get(s) + 1));
    assert.equal(await ask(members[0], "remote-emit", r), members.length);
    await checkFor(() => members.every((s) => remote.get(s) === 1));

    // broadcast with acks collects every member's answer
    for (const s of members) s.on("question", (cb) => cb(s.id));
    const [err, answers] = await askAll(members[0], "broadcast-ack", r);
    assert.equal(err, null);
    assert.deepEqual(new Set(answers), new Set(members.map((s) => s.id)));

    // serverSideEmit with acks: one answer per other worker
    const [perr, pongs] = await askAll(members[0], "server-ping");
    assert.equal(perr, null);
    assert.equal(pongs.length, WORKERS - 1);
    assert.ok(!pongs.includes(members[0].pid));

    // serverCount
    assert.equal(await ask(members[0], "server-count"), WORKERS);

    // disconnectSockets on every worker
    const outsider = sockets.find((s) => !members.includes(s));
    const closed = members.map((s) => new Promise((res) => s.once("disconnect", res)));
    await ask(outsider, "disconnect-room", r);
    await Promise.all(closed);
  } finally {
    sockets.forEach((s) => s.close());
  }
});
