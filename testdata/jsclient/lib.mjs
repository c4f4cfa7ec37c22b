// Shared helpers for the end-to-end tests. The Go test that runs these files
// (e2e/) sets STICKYD_URL to the server under test and WORKERS to the number
// of worker processes behind it.
import { io } from "socket.io-client";

export const URL = process.env.STICKYD_URL || "http://127.0.0.1:3000";
export const WORKERS = parseInt(process.env.WORKERS || "1", 10);

// connect opens a socket and resolves once it is connected and the server's
// "auth" event has arrived; it rejects on connect_error or after ms.
export function connect(opts = {}, nsp = "/", ms = 5000) {
  const socket = io(URL + nsp, {
    forceNew: true,
    reconnection: false,
    timeout: ms,
    ...opts,
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`connect ${nsp}: no auth event within ${ms} ms`));
    }, ms);
    socket.once("auth", (auth) => {
      clearTimeout(timer);
      socket.authReceived = auth;
      resolve(socket);
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
  });
}

// once resolves with the arguments of the next event, or rejects after ms.
export function once(socket, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    socket.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

// whoami asks which worker process serves the socket.
export async function whoami(socket) {
  const { pid } = await socket.timeout(5000).emitWithAck("whoami");
  return pid;
}

// checkFor polls fn until it returns true or ms elapse.
export async function checkFor(fn, ms = 5000, every = 20) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, every));
  }
}

export function closeAll(sockets) {
  for (const s of sockets) s.close();
}

// ackAll emits event with args and resolves with every argument of the ack
// (emitWithAck keeps only the first one).
export function ackAll(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(5000).emit(event, ...args, (err, ...res) => (err ? reject(err) : resolve(res)));
  });
}

// clientsOnEveryWorker connects websocket clients until every worker holds
// at least perWorker of them (opts are the connect options); each socket
// knows its worker's pid.
export async function clientsOnEveryWorker(perWorker, opts = {}) {
  const sockets = [];
  const byPid = new Map();
  const enough = () => byPid.size === WORKERS && [...byPid.values()].every((l) => l.length >= perWorker);
  while (!enough()) {
    if (sockets.length > 20 * WORKERS * perWorker) throw new Error(`could not reach ${WORKERS} workers`);
    const s = await connect({ transports: ["websocket"], ...opts });
    s.pid = await whoami(s);
    sockets.push(s);
    if (!byPid.has(s.pid)) byPid.set(s.pid, []);
    byPid.get(s.pid).push(s);
  }
  return { sockets, pids: new Set(byPid.keys()), byPid };
}
