// The Admin UI's protocol (the /admin namespace of the admin package), as
// the official UI speaks it, against the demo app (examples/demo) on
// WORKERS workers with a login (ADMIN_USER / ADMIN_PASSWORD): login and
// session ids, the cluster's sockets and servers, the live feed, and the
// join / leave / emit / _disconnect actions on sockets of any worker.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { URL, WORKERS, once, checkFor, closeAll } from "./lib.mjs";

const USER = process.env.ADMIN_USER;
const PASSWORD = process.env.ADMIN_PASSWORD;
const opened = [];
after(() => closeAll(opened));

// open connects to nsp and resolves once connected (with the socket and
// the events it got so far), or rejects with the connect error.
function open(nsp, auth) {
  const socket = io(URL + nsp, { forceNew: true, reconnection: false, transports: ["websocket"], auth });
  opened.push(socket);
  socket.events = [];
  socket.onAny((...args) => socket.events.push(args));
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(err));
  });
}

// chatOnEveryWorker opens demo tabs in room until WORKERS workers hold one.
async function chatOnEveryWorker(room) {
  const byPid = new Map();
  for (let i = 0; byPid.size < WORKERS; i++) {
    assert.ok(i < 20, "20 clients did not reach every worker");
    const s = io(URL, { forceNew: true, reconnection: false, transports: ["websocket"], auth: { room, name: "u" + i } });
    opened.push(s);
    const [welcome] = await once(s, "welcome");
    if (byPid.has(welcome.pid)) s.close();
    else byPid.set(welcome.pid, s);
  }
  return [...byPid.values()];
}

// feed waits until socket got event with args matching pred.
function feed(socket, event, pred = () => true) {
  return checkFor(() => socket.events.some(([e, ...args]) => e === event && pred(...args)), 8000);
}

test("wrong or missing credentials are refused with 'invalid credentials'", async () => {
  for (const auth of [{}, { username: USER, password: "wrong" }, { username: "nobody", password: PASSWORD }, { sessionId: "1.2.3" }]) {
    await assert.rejects(open("/admin", auth), { message: "invalid credentials" }, JSON.stringify(auth));
  }
});

test("a login gets a session id every worker accepts, the config, every worker's sockets and stats", async () => {
  const room = "adm-" + Math.random().toString(36).slice(2);
  const chats = await chatOnEveryWorker(room);
  const admin = await open("/admin", { username: USER, password: PASSWORD });
  await feed(admin, "session");
  await feed(admin, "config", (c) => c.supportedFeatures.includes("MJOIN") && c.supportedFeatures.includes("DISCONNECT"));
  await feed(admin, "all_sockets", (list) => chats.every((c) => list.some((s) => s.id === c.id && s.nsp === "/" && s.rooms.includes(room) && s.transport === "websocket")));
  const stats = new Set();
  await checkFor(() => {
    for (const [e, st] of admin.events) if (e === "server_stats") stats.add(st.serverId);
    return stats.size >= WORKERS;
  }, 8000);
  const [, sessionId] = admin.events.find(([e]) => e === "session");
  // admin sockets balanced over the workers: each accepts the session id
  const again = [];
  for (let i = 0; i < 2 * WORKERS; i++) again.push(await open("/admin", { sessionId }));
  assert.equal(again.length, 2 * WORKERS);
});

test("actions reach sockets on any worker, and the feed reports them", async () => {
  const room = "act-" + Math.random().toString(36).slice(2);
  const [first, second] = await chatOnEveryWorker(room);
  const admin = await open("/admin", { username: USER, password: PASSWORD });
  await feed(admin, "all_sockets");

  first.emit("chat", "hello admin");
  await feed(admin, "event_received", (nsp, id, args) => nsp === "/" && id === first.id && args[0] === "chat" && args[1] === "hello admin");

  admin.emit("join", "/", "extra", first.id);
  await feed(admin, "room_joined", (nsp, r, id) => nsp === "/" && r === "extra" && id === first.id);
  const listed = async () => (await second.timeout(5000).emitWithAck("rooms")).find((r) => r.name === "extra");
  await checkFor(async () => (await listed())?.members.length === 1, 8000);

  admin.emit("leave", "/", "extra", first.id);
  await feed(admin, "room_left", (nsp, r, id) => nsp === "/" && r === "extra" && id === first.id);
  await checkFor(async () => (await listed()) === undefined, 8000);

  // bad input is ignored: a namespace that is not instrumented, wrong types
  admin.emit("join", "/not-watched", "x", first.id);
  admin.emit("join", 42, { room: true });
  admin.emit("_disconnect");

  const got = once(second, "system");
  admin.emit("emit", "/", second.id, "system", "hello from the admin UI");
  assert.deepEqual(await got, ["hello from the admin UI"]);

  const secondId = second.id; // the client forgets it on disconnect
  const gone = once(second, "disconnect", 8000);
  admin.emit("_disconnect", "/", false, secondId);
  assert.equal((await gone)[0], "io server disconnect");
  await feed(admin, "socket_disconnected", (nsp, id) => nsp === "/" && id === secondId);
  assert.ok(first.connected, "the other socket stays connected");
});
