// Helpers of the TestNode* client tests. The Go test that runs a file sets
// STICKYD_URL (stickyd in front of app.js workers) and WORKERS.
import { io } from "socket.io-client";

export const URL = process.env.STICKYD_URL || "http://127.0.0.1:3000";
export const WORKERS = parseInt(process.env.WORKERS || "2", 10);

// connect resolves with a connected socket, or rejects after ms.
export function connect(opts = {}, ms = 8000) {
  const socket = io(URL, { forceNew: true, reconnection: false, timeout: ms, ...opts });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

export const ask = (socket, event, ...args) => socket.timeout(8000).emitWithAck(event, ...args);

// askAll resolves with every argument of the ack.
export function askAll(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(8000).emit(event, ...args, (err, ...res) => (err ? reject(err) : resolve(res)));
  });
}

export async function checkFor(fn, ms = 8000, every = 20) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, every));
  }
}

// onEveryWorker connects clients until every worker holds perWorker of
// them; each socket's .pid is its worker's.
export async function onEveryWorker(perWorker, opts = { transports: ["websocket"] }) {
  const sockets = [];
  const byPid = new Map();
  for (let i = 0; i < 40 * WORKERS * perWorker; i++) {
    const s = await connect(opts);
    s.pid = await ask(s, "whoami");
    sockets.push(s);
    if (!byPid.has(s.pid)) byPid.set(s.pid, []);
    byPid.get(s.pid).push(s);
    if (byPid.size === WORKERS && [...byPid.values()].every((l) => l.length >= perWorker)) return { sockets, byPid };
  }
  sockets.forEach((s) => s.close());
  throw new Error(`clients reached ${byPid.size} of ${WORKERS} workers`);
}

export const room = (p) => p + "-" + Math.random().toString(36).slice(2);
