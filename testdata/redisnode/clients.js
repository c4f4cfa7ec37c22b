"use strict";
// Official socket.io-client 4.8 on two fleet servers (URLS=a,b), for the Go
// interop tests: each client joins room "x"; a broadcast from each side and a
// binary emit from each side reach both clients exactly once; count is 2 and
// server-ping 1 on each. Prints "clients: ok" and exits 0, or exits 1.
const { io } = require("socket.io-client");

const urls = (process.env.URLS || "").split(",");
const fail = (msg) => {
  console.error("clients: " + msg);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 20000).unref();

const connect = (url) =>
  new Promise((resolve, reject) => {
    const s = io(url, { transports: ["websocket"], reconnection: false });
    s.on("connect", () => resolve(s));
    s.on("connect_error", reject);
  });

async function main() {
  const sockets = await Promise.all(urls.map(connect));
  const got = sockets.map(() => ({ bcast: [], bin: [] }));
  sockets.forEach((s, i) => {
    s.on("bcast", (p) => got[i].bcast.push(p));
    s.on("bin", (buf, obj) => got[i].bin.push([Buffer.from(buf).toString("hex"), obj.k]));
  });
  for (const s of sockets) await s.emitWithAck("join", "x");
  for (const [i, s] of sockets.entries()) {
    if ((await s.emitWithAck("count", "x")) !== 2) fail(`count on ${i}`);
    if ((await s.emitWithAck("server-ping")) !== 1) fail(`server-ping on ${i}`);
    await s.emitWithAck("broadcast", "x", { from: i });
    await s.emitWithAck("op-emit-bin", { to: ["x"], except: [] });
  }
  await new Promise((r) => setTimeout(r, 300));
  for (const [i, g] of got.entries()) {
    const froms = g.bcast.map((p) => p.from).sort().join(",");
    if (froms !== "0,1") fail(`client ${i} bcast ${JSON.stringify(g.bcast)}`);
    if (g.bin.length !== 2 || g.bin.some(([hex, k]) => hex !== "010203" || k !== 1)) fail(`client ${i} bin ${JSON.stringify(g.bin)}`);
  }
  sockets.forEach((s) => s.close());
  console.log("clients: ok");
  process.exit(0);
}
main().catch((err) => fail(err && err.message));
