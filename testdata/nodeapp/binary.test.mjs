// With --node-serialization advanced, a Buffer broadcast from one worker
// reaches the clients of every worker as binary.
import { test } from "node:test";
import assert from "node:assert/strict";
import { onEveryWorker, ask, checkFor, room } from "./lib.mjs";

test("binary broadcast across workers", async () => {
  const { sockets } = await onEveryWorker(1);
  try {
    const r = room("b");
    for (const s of sockets) await ask(s, "join", r);
    const got = new Map();
    for (const s of sockets) s.on("bcast", (p) => got.set(s, p));
    await ask(sockets[0], "broadcast", r, new Uint8Array([0, 1, 2, 255]));
    await checkFor(() => got.size === sockets.length);
    for (const p of got.values()) {
      assert.ok(p instanceof ArrayBuffer || ArrayBuffer.isView(p), `got ${JSON.stringify(p)}, not binary`);
      assert.deepEqual([...new Uint8Array(p.buffer ? p.buffer.slice(p.byteOffset, p.byteOffset + p.byteLength) : p)], [0, 1, 2, 255]);
    }
  } finally {
    sockets.forEach((s) => s.close());
  }
});
