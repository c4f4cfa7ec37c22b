// Connection state recovery: the server under test runs with RECOVERY=1
// (connectionStateRecovery on); a client whose transport drops gets back its
// session id and the packets broadcast while it was away.
import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { URL, connect, once } from "./lib.mjs";

test("a dropped client recovers its session and missed broadcasts", { skip: process.env.RECOVERY !== "1" }, async () => {
  const room = "rec-" + Math.random().toString(36).slice(2);
  const s = io(URL, { forceNew: true, transports: ["websocket"], reconnectionDelay: 50, reconnectionDelayMax: 100 });
  const connected = once(s, "connect");
  const sender = await connect({ transports: ["websocket"] });
  try {
    await connected;
    assert.equal(s.recovered, false);
    await s.timeout(5000).emitWithAck("join", room);
    const got = [];
    s.on("bcast", (p) => got.push(p));
    await sender.timeout(5000).emitWithAck("broadcast", room, "before");
    // wait for "before" so that its offset is the client's last seen
    const deadline = Date.now() + 5000;
    while (!got.includes("before") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const id = s.id;
    s.io.engine.close(); // the transport drops; the session is kept on the server
    await sender.timeout(5000).emitWithAck("broadcast", room, "missed");
    await once(s, "connect", 5000);
    assert.equal(s.recovered, true);
    assert.equal(s.id, id);
    const until = Date.now() + 5000;
    while (!got.includes("missed") && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got, ["before", "missed"]);
  } finally {
    s.close();
    sender.close();
  }
});
