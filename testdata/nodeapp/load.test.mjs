// Short sessions on every transport, back to back for DURATION_MS, each
// checking that every request reaches the worker of its session; used
// while the Go test reloads stickyd or starts workers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, ask } from "./lib.mjs";

const DURATION = parseInt(process.env.DURATION_MS || "3000", 10);
const LOOPS = parseInt(process.env.LOOPS || "8", 10);

test("sessions under load", async () => {
  const until = Date.now() + DURATION;
  let sessions = 0;
  const pids = new Set();
  const loop = async (i) => {
    const transports = i % 2 ? ["websocket"] : ["polling"];
    while (Date.now() < until) {
      const s = await connect({ transports });
      try {
        const pid = await ask(s, "whoami");
        pids.add(pid);
        for (let k = 0; k < 3; k++) assert.equal(await ask(s, "whoami"), pid);
        sessions++;
      } finally {
        s.close();
      }
    }
  };
  await Promise.all(Array.from({ length: LOOPS }, (_, i) => loop(i)));
  console.log(`# sessions ${sessions} workers ${pids.size}`);
  assert.ok(sessions > LOOPS);
});
