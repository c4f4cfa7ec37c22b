// Every cluster adapter operation across worker processes, driven through
// the reference app's CLUSTER_OPS events (testdata/refapp/ops.go) from a
// socket whose worker holds none of the target sockets: to / except /
// local, socketsJoin / socketsLeave / disconnectSockets, fetchSockets and
// remote sockets, serverSideEmit with and without acks, broadcast acks with
// a timeout, serverCount and the cluster-wide room listing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { clientsOnEveryWorker, checkFor, closeAll, once, WORKERS } from "./lib.mjs";

const ask = (socket, event, ...args) => socket.timeout(8000).emitWithAck(event, ...args);
const uniq = (name) => name + "-" + Math.random().toString(36).slice(2);

// split picks a requester on the first worker and the sockets of the other
// workers as targets.
function split({ byPid }) {
  const [first, ...rest] = [...byPid.values()];
  return { requester: first[0], home: first, targets: rest.flat() };
}

// record collects the payloads of event per socket.
function record(sockets, event) {
  const got = new Map(sockets.map((s) => [s, []]));
  for (const s of sockets) s.on(event, (p) => got.get(s).push(p));
  return got;
}

test("to, except and local pick the sockets a single process would, each once", async () => {
  const c = await clientsOnEveryWorker(3);
  try {
    const r1 = uniq("r1");
    const r2 = uniq("r2");
    const workers = [...c.byPid.values()];
    for (const l of workers) {
      await ask(l[0], "join", r1);
      await ask(l[1], "join", r2);
    }
    await ask(workers[0][0], "join", r2); // in both rooms: still once
    const requester = workers[1][2]; // a member of neither room
    const got = record(c.sockets, "ev");
    await ask(requester, "op-emit", { to: [r1, r2] }, "ev", "both");
    await ask(requester, "op-emit", { to: [r1, r2], except: [r2] }, "ev", "r1-not-r2");
    await ask(requester, "op-emit", { to: [r1, r2], local: true }, "ev", "local");
    await ask(requester, "op-emit", { except: [r1] }, "ev", "all-but-r1");
    await ask(requester, "op-emit", {}, "ev", "end");
    await checkFor(() => c.sockets.every((s) => got.get(s).includes("end")));
    // worker 0's first socket is in both rooms; worker 1 is the requester's
    const want = (w, i) => {
      const here = w === 1 ? ["local"] : [];
      if (i === 0) return ["both", ...(w === 0 ? [] : ["r1-not-r2"]), ...here, "end"];
      if (i === 1) return ["both", ...here, "all-but-r1", "end"];
      return ["all-but-r1", "end"];
    };
    for (const [w, l] of workers.entries()) {
      for (let i = 0; i < 3; i++) assert.deepEqual(got.get(l[i]), want(w, i), `worker ${w} socket ${i}`);
    }
  } finally {
    closeAll(c.sockets);
  }
});

test("socketsJoin, socketsLeave and disconnectSockets from a worker that holds none of the sockets", async () => {
  const c = await clientsOnEveryWorker(2);
  const { requester, home, targets } = split(c);
  try {
    const src = uniq("src");
    const dst = uniq("dst");
    for (const s of targets) await ask(s, "join", src);
    const ids = targets.map((s) => s.id).sort();
    await ask(requester, "op-sockets-join", { to: [src] }, dst);
    await checkFor(async () => (await ask(requester, "count", dst)) === targets.length);
    assert.deepEqual(await ask(requester, "op-room-sockets", dst), ids);
    await ask(requester, "op-sockets-leave", { to: [src] }, dst);
    await checkFor(async () => (await ask(requester, "count", dst)) === 0);

    const reasons = targets.map((s) => once(s, "disconnect"));
    await ask(requester, "op-disconnect", { to: [src] }, false);
    for (const r of await Promise.all(reasons)) assert.equal(r[0], "io server disconnect");
    assert.ok(home.every((s) => s.connected), "the requester's worker keeps its sockets");
    await checkFor(async () => (await ask(requester, "count", src)) === 0);
  } finally {
    closeAll(c.sockets);
  }
});

test("fetchSockets describes every worker's sockets, and a remote socket can emit, join, leave and disconnect", async () => {
  const c = await clientsOnEveryWorker(2, { auth: { who: "fetch" } });
  const { requester, targets } = split(c);
  try {
    const room = uniq("f");
    for (const [i, s] of targets.entries()) {
      await ask(s, "op-set-data", { n: i });
      await ask(s, "join", room);
    }
    const fetched = await ask(requester, "op-fetch", { to: [room] });
    assert.deepEqual(fetched.map((f) => f.id).sort(), targets.map((s) => s.id).sort());
    for (const [i, s] of targets.entries()) {
      const f = fetched.find((x) => x.id === s.id);
      assert.deepEqual(f.rooms.sort(), [s.id, room].sort());
      assert.deepEqual(f.data, { n: i });
      assert.deepEqual(f.auth, { who: "fetch" });
    }

    const remote = targets.map((s) => once(s, "remote"));
    assert.deepEqual(await ask(requester, "op-remote", { to: [room] }, "emit", "hi"), { responses: [] });
    for (const args of await Promise.all(remote)) assert.deepEqual(args, ["hi"]);

    const g = uniq("g");
    await ask(requester, "op-remote", { to: [room] }, "join", g);
    const ids = targets.map((s) => s.id).sort();
    await checkFor(async () => JSON.stringify(await ask(requester, "op-room-sockets", g)) === JSON.stringify(ids));
    await ask(requester, "op-remote", { to: [room] }, "leave", g);
    await checkFor(async () => (await ask(requester, "op-room-sockets", g)).length === 0);

    const gone = targets.map((s) => once(s, "disconnect"));
    await ask(requester, "op-remote", { to: [room] }, "disconnect", "");
    for (const r of await Promise.all(gone)) assert.equal(r[0], "io server disconnect");
  } finally {
    closeAll(c.sockets);
  }
});

test("serverSideEmit reaches every other worker, with acks and without; serverCount counts the workers", async () => {
  const c = await clientsOnEveryWorker(1);
  const { requester, targets } = split(c);
  try {
    const others = new Set(targets.map((s) => s.pid));
    const res = await ask(requester, "op-sse-ack", { hello: 1 });
    assert.equal(res.error, undefined);
    assert.equal(res.responses.length, WORKERS - 1);
    assert.deepEqual(new Set(res.responses.map((r) => r[0])), others);
    for (const r of res.responses) assert.deepEqual(r[1], { hello: 1 });

    const notes = targets.map((s) => once(s, "sse-note"));
    let homeNote = false;
    requester.on("sse-note", () => (homeNote = true));
    assert.deepEqual(await ask(requester, "op-sse", "note"), { responses: [] });
    for (const [i, args] of (await Promise.all(notes)).entries()) assert.deepEqual(args, ["note", targets[i].pid]);
    // a broadcast from the requester's worker after its serverSideEmit
    // arrives after it on every worker: the sender's worker got none
    const end = c.sockets.map((s) => once(s, "ev"));
    await ask(requester, "op-emit", {}, "ev", "end");
    await Promise.all(end);
    assert.equal(homeNote, false, "serverSideEmit must not reach its own worker");

    assert.equal(await ask(requester, "op-server-count"), WORKERS);
  } finally {
    closeAll(c.sockets);
  }
});

test("broadcast with acks: one answer per member; a timeout resolves with the answers so far and an error", async () => {
  const c = await clientsOnEveryWorker(2);
  const { requester, targets } = split(c);
  try {
    const answering = uniq("qa");
    const withSilent = uniq("qs");
    const silent = targets[targets.length - 1];
    for (const s of targets) {
      if (s !== silent) {
        s.on("question", (from, cb) => cb("a-" + s.id));
        await ask(s, "join", answering);
      }
      await ask(s, "join", withSilent);
    }
    const all = await ask(requester, "op-emit-ack", { to: [answering] }, 5000);
    assert.equal(all.error, undefined);
    assert.deepEqual(all.responses.sort(), targets.filter((s) => s !== silent).map((s) => "a-" + s.id).sort());

    const partial = await ask(requester, "op-emit-ack", { to: [withSilent] }, 1000);
    assert.match(partial.error, /timeout|timed out/i);
    assert.deepEqual(partial.responses.sort(), all.responses);
  } finally {
    closeAll(c.sockets);
  }
});

test("the cluster lists every room and the sockets of a room", async () => {
  const c = await clientsOnEveryWorker(1);
  const { requester } = split(c);
  try {
    const shared = uniq("shared");
    const own = new Map();
    for (const s of c.sockets) {
      own.set(s, uniq("own"));
      await ask(s, "join", own.get(s));
      await ask(s, "join", shared);
    }
    const rooms = await ask(requester, "op-rooms");
    for (const r of [shared, ...own.values()]) assert.ok(rooms.includes(r), `room ${r} missing from ${rooms.length} rooms`);
    assert.deepEqual(await ask(requester, "op-room-sockets", shared), c.sockets.map((s) => s.id).sort());
    assert.deepEqual(await ask(requester, "op-room-sockets", own.get(c.sockets[0])), [c.sockets[0].id]);
  } finally {
    closeAll(c.sockets);
  }
});
