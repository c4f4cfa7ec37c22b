// Connection state recovery: the server under test runs with RECOVERY=1
// (connectionStateRecovery on); a client whose transport drops gets back its
// session id, its rooms and the packets broadcast while it was away, also
// when its reconnection lands on another worker than the one it left.
import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { URL, WORKERS, connect, once, whoami, checkFor } from "./lib.mjs";

// connectOn opens sockets until one is served by a worker that want
// accepts (by process id), closing the others.
async function connectOn(want, tries = 20) {
  for (let i = 0; i < tries; i++) {
    const s = await connect({ transports: ["websocket"] });
    if (want(await whoami(s))) return s;
    s.close();
  }
  throw new Error(`no connection on the wanted worker in ${tries} tries`);
}

test("a dropped client recovers its session and missed broadcasts, across workers", { skip: process.env.RECOVERY !== "1" }, async () => {
  assert.ok(WORKERS >= 2, "needs two workers");
  const room = "rec-" + Math.random().toString(36).slice(2);
  const s = io(URL, { forceNew: true, transports: ["websocket"], reconnectionDelay: 50, reconnectionDelayMax: 100 });
  const open = [s];
  try {
    await once(s, "connect");
    assert.equal(s.recovered, false);
    const home = await whoami(s);
    await s.timeout(5000).emitWithAck("join", room);
    // The sender is on another worker: its broadcasts reach the session's
    // worker through the hub. A filler on the session's worker evens the
    // load, so that the least-connection balancer sends a reconnection to
    // either worker.
    const sender = await connectOn((pid) => pid !== home);
    open.push(sender);
    open.push(await connectOn((pid) => pid === home));

    const got = [];
    s.on("bcast", (p) => got.push(p));
    await sender.timeout(5000).emitWithAck("broadcast", room, "before");
    await checkFor(() => got.includes("before"));
    const id = s.id;
    const want = ["before"];
    let crossed = false;
    // Drop the transport until the reconnection lands on another worker;
    // every reconnection, on the same worker or not, must recover.
    for (let i = 0; i < 10 && !crossed; i++) {
      const holder = await whoami(s);
      const reconnected = once(s, "connect", 5000);
      s.io.engine.close(); // the transport drops; the session is kept on the server
      const missed = `missed-${i}`;
      await sender.timeout(5000).emitWithAck("broadcast", room, missed);
      want.push(missed);
      await reconnected;
      assert.equal(s.recovered, true, `reconnection ${i} recovered`);
      assert.equal(s.id, id);
      await checkFor(() => got.includes(missed));
      crossed = (await whoami(s)) !== holder;
    }
    assert.ok(crossed, "no reconnection landed on another worker");
    // The rooms came back on the new worker: live broadcasts reach it.
    await sender.timeout(5000).emitWithAck("broadcast", room, "after");
    want.push("after");
    await checkFor(() => got.includes("after"));
    assert.deepEqual(got, want); // each missed packet once, in order
  } finally {
    for (const x of open) x.close();
  }
});
