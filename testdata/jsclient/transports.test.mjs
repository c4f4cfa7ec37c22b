// Every transport the official client uses, through the server under test:
// each request of a session must reach the worker that owns it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, whoami, once, ackAll, WORKERS } from "./lib.mjs";

const modes = {
  "polling only": { transports: ["polling"] },
  "websocket only": { transports: ["websocket"] },
  "polling then upgrade": { transports: ["polling", "websocket"] },
};

for (const [name, opts] of Object.entries(modes)) {
  test(`${name}: every request of a session reaches its worker`, async () => {
    const sockets = await Promise.all(Array.from({ length: 8 }, () => connect(opts)));
    try {
      const pids = new Set();
      for (const s of sockets) {
        const first = await whoami(s);
        for (let i = 0; i < 10; i++) assert.equal(await whoami(s), first, "whoami answered by another worker");
        pids.add(first);
      }
      if (WORKERS > 1) assert.ok(pids.size > 1, `8 sessions all on one worker (${[...pids]})`);
    } finally {
      sockets.forEach((s) => s.close());
    }
  });

  test(`${name}: acks both ways, plain and binary`, async () => {
    const s = await connect(opts);
    try {
      const args = await ackAll(s, "message-with-ack", 1, "2", { 3: [true], z: null, a: 1 });
      // compared as JSON text: key order must survive the round trip
      assert.equal(JSON.stringify(args), JSON.stringify([1, "2", { 3: [true], z: null, a: 1 }]));
      const bin = Buffer.from([0, 1, 2, 253, 254, 255]);
      const [back] = await ackAll(s, "message-with-ack", bin);
      assert.deepEqual(Buffer.from(back), bin);
      const got = once(s, "message-back");
      s.emit("message", "x", { nested: Buffer.from([9, 8]) });
      const [a, b] = await got;
      assert.equal(a, "x");
      assert.deepEqual(Buffer.from(b.nested), Buffer.from([9, 8]));
    } finally {
      s.close();
    }
  });
}

test("upgrade really happens and keeps the worker", async () => {
  const s = await connect({ transports: ["polling", "websocket"] });
  try {
    const before = await whoami(s);
    if (s.io.engine.transport.name !== "websocket") await once(s.io.engine, "upgrade");
    assert.equal(s.io.engine.transport.name, "websocket");
    assert.equal(await whoami(s), before);
  } finally {
    s.close();
  }
});
