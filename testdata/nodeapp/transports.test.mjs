// Every transport of the official client, each request on the worker that
// owns the session.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, ask, WORKERS } from "./lib.mjs";

async function stable(opts, n = 20) {
  const sockets = await Promise.all(Array.from({ length: n }, () => connect(opts)));
  try {
    const pids = new Set();
    for (const s of sockets) {
      const pid = await ask(s, "whoami");
      pids.add(pid);
      for (let i = 0; i < 5; i++) {
        assert.equal(await ask(s, "whoami"), pid, "a session moved to another worker");
        assert.equal(await ask(s, "echo", "x" + i), "x" + i);
      }
    }
    assert.equal(pids.size, WORKERS, "sessions should spread over every worker");
    return sockets;
  } finally {
    sockets.forEach((s) => s.close());
  }
}

test("polling only", async () => {
  await stable({ transports: ["polling"] });
});

test("websocket only", async () => {
  await stable({ transports: ["websocket"] });
});

test("polling upgraded to websocket", async () => {
  const sockets = await Promise.all(Array.from({ length: 10 }, () => connect({ transports: ["polling", "websocket"] })));
  try {
    for (const s of sockets) {
      const pid = await ask(s, "whoami");
      if (s.io.engine.transport.name !== "websocket") {
        await new Promise((resolve) => s.io.engine.once("upgrade", resolve));
      }
      assert.equal(s.io.engine.transport.name, "websocket");
      assert.equal(await ask(s, "whoami"), pid);
    }
  } finally {
    sockets.forEach((s) => s.close());
  }
});
