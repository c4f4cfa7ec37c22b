// A worker killed while broadcasts flow: the others keep receiving, and
// fetchSockets / serverSideEmit answer with the live workers at once
// (stickyd tells the cluster adapters of the death) instead of timing out.
import { test } from "node:test";
import assert from "node:assert/strict";
import { onEveryWorker, ask, askAll, checkFor, room, WORKERS } from "./lib.mjs";

test("a worker killed mid-broadcast", async () => {
  const { sockets, byPid } = await onEveryWorker(2);
  try {
    const r = room("d");
    for (const s of sockets) await ask(s, "join", r);
    const pids = [...byPid.keys()];
    const victimPid = pids[pids.length - 1];
    const victims = byPid.get(victimPid);
    const survivors = sockets.filter((s) => s.pid !== victimPid);
    const sender = survivors[0];
    const got = new Map(survivors.map((s) => [s, []]));
    for (const s of survivors) s.on("bcast", (p) => got.get(s).push(p));

    let sent = 0;
    let stop = false;
    const flow = (async () => {
      while (!stop) {
        assert.equal(await ask(sender, "broadcast", r, sent), "ok");
        sent++;
      }
    })();
    await checkFor(() => sent >= 10);
    const gone = victims.map((s) => new Promise((res) => s.once("disconnect", res)));
    victims[0].emit("exit");
    await Promise.all(gone);
    const killedAt = sent;
    await checkFor(() => sent >= killedAt + 10);
    stop = true;
    await flow;
    // every survivor got every broadcast, in order, exactly once
    await checkFor(() => survivors.every((s) => got.get(s).length === sent));
    for (const s of survivors) assert.deepEqual(got.get(s), [...Array(sent).keys()]);

    // fetchSockets and serverSideEmit answer promptly with the live workers
    const t0 = Date.now();
    const n = await ask(sender, "count", r);
    assert.equal(n, survivors.length);
    const [err, pongs] = await askAll(sender, "server-ping");
    assert.equal(err, null, "serverSideEmit waited for the dead worker");
    assert.ok(!pongs.includes(victimPid));
    assert.ok(pongs.length >= WORKERS - 2, `pongs ${pongs}`);
    assert.ok(Date.now() - t0 < 2500, `cluster requests took ${Date.now() - t0} ms`);
  } finally {
    sockets.forEach((s) => s.close());
  }
});
