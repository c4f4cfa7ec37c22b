// A Redis fleet of several hosts (e2e TestFleetTwoHostsAndNode): URLS are
// the hosts (stickyd --redis, or a Node server with
// @socket.io/redis-adapter), HOST_SERVERS how many fleet servers each is
// (a stickyd host with W workers is W). One official client per server,
// each on its own worker, drives every cluster operation from its side:
// each must reach every target exactly once, binary intact.
import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { checkFor, once } from "./lib.mjs";

const urls = (process.env.URLS || "").split(",");
const perHost = (process.env.HOST_SERVERS || "").split(",").map(Number);
const SERVERS = perHost.reduce((a, b) => a + b, 0);
const ask = (socket, event, ...args) => socket.timeout(8000).emitWithAck(event, ...args);
const settle = () => new Promise((r) => setTimeout(r, 300));

function dial(url) {
  const s = io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  return new Promise((resolve, reject) => {
    s.once("auth", () => resolve(s));
    s.once("connect_error", reject);
  });
}

// clients connects until each host has one client on each of its servers.
async function clients() {
  const out = [];
  for (const [h, url] of urls.entries()) {
    const pids = new Set();
    for (let tries = 0; pids.size < perHost[h] && tries < 40; tries++) {
      const s = await dial(url);
      const { pid } = await ask(s, "whoami");
      if (pids.has(pid)) {
        s.close();
        continue;
      }
      pids.add(pid);
      out.push(s);
    }
    assert.equal(pids.size, perHost[h], `host ${url}: one client per server`);
  }
  return out;
}

// collect records the first argument of event per client.
function collect(sockets, event) {
  const got = sockets.map(() => []);
  sockets.forEach((s, i) => s.on(event, (p) => got[i].push(p)));
  return got;
}

test("every cluster operation spans the fleet, from each server, exactly once", async () => {
  const cs = await clients();
  const n = cs.length;
  assert.equal(n, SERVERS);
  try {
    for (const [i, c] of cs.entries()) {
      await ask(c, "join", `room-${i}`);
      await ask(c, "join", "all");
    }
    for (const c of cs) assert.equal(await ask(c, "op-server-count"), SERVERS, "serverCount");

    // to: each origin to each room
    const ev = collect(cs, "ev");
    for (const [i, c] of cs.entries()) {
      for (let j = 0; j < n; j++) await ask(c, "op-emit", { to: [`room-${j}`], except: [] }, "ev", `${i}>${j}`);
    }
    // except
    const exc = collect(cs, "exc");
    for (const [i, c] of cs.entries()) await ask(c, "op-emit", { to: ["all"], except: [`room-${(i + 1) % n}`] }, "exc", i);
    // local
    const loc = collect(cs, "loc");
    for (const [i, c] of cs.entries()) await ask(c, "op-emit", { to: ["all"], except: [], local: true }, "loc", i);
    // binary
    const bin = cs.map(() => []);
    cs.forEach((s, i) => s.on("bin", (buf, obj) => bin[i].push([Buffer.from(buf).toString("hex"), obj.k])));
    for (const [i, c] of cs.entries()) await ask(c, "op-emit-bin", { to: [`room-${(i + 1) % n}`], except: [] });
    await settle();
    for (let j = 0; j < n; j++) {
      const want = cs.map((_, i) => `${i}>${j}`).sort();
      assert.deepEqual([...ev[j]].sort(), want, `client ${j}: room broadcasts`);
      const wantExc = cs.map((_, i) => i).filter((i) => (i + 1) % n !== j);
      assert.deepEqual([...exc[j]].sort((a, b) => a - b), wantExc, `client ${j}: except`);
      assert.equal(bin[j].length, 1, `client ${j}: binary once`);
      assert.deepEqual(bin[j][0], ["010203", 1], `client ${j}: binary intact`);
    }
    // local reached only the origin's server: its one client here
    loc.forEach((got, j) => assert.deepEqual(got, [j], `client ${j}: local`));

    // fetchSockets, server-side emit with acks, broadcast acks, rooms
    const ids = cs.map((c) => c.id).sort();
    for (const [i, c] of cs.entries()) {
      const sockets = await ask(c, "op-fetch", { to: ["all"], except: [] });
      assert.deepEqual(sockets.map((s) => s.id).sort(), ids, `server ${i}: fetchSockets`);
      const sse = await ask(c, "op-sse-ack", `hi-${i}`);
      assert.ok(!sse.error, `server ${i}: serverSideEmit error ${sse.error}`);
      assert.equal(sse.responses.length, SERVERS - 1, `server ${i}: serverSideEmit answers`);
      for (const r of sse.responses) assert.equal(r[1], `hi-${i}`);
    }
    cs.forEach((c) => c.on("question", (_from, cb) => cb(c.id)));
    for (const [i, c] of cs.entries()) {
      const acks = await ask(c, "op-emit-ack", { to: ["all"], except: [] }, 3000);
      assert.ok(!acks.error, `server ${i}: broadcast ack error ${acks.error}`);
      assert.deepEqual([...acks.responses].sort(), ids, `server ${i}: broadcast acks`);
      const rooms = await ask(c, "op-rooms");
      for (let k = 0; k < n; k++) assert.ok(rooms.includes(`room-${k}`), `server ${i}: rooms ${rooms}`);
      assert.ok(rooms.includes("all"));
    }
    // broadcast acks with a timeout: one client never answers
    cs[0].off("question");
    cs[0].on("question", () => {});
    const partial = await ask(cs[1], "op-emit-ack", { to: ["all"], except: [] }, 500);
    assert.ok(partial.error, "a silent socket gives a timeout error");
    assert.deepEqual([...partial.responses].sort(), ids.filter((id) => id !== cs[0].id).sort(), "the other acks arrive");

    // serverSideEmit without ack: every other server once
    const notes = collect(cs, "sse-note");
    for (const [i, c] of cs.entries()) await ask(c, "op-sse", `note-${i}`);
    await settle();
    for (let j = 0; j < n; j++) {
      assert.deepEqual([...notes[j]].sort(), cs.map((_, i) => `note-${i}`).filter((s) => s !== `note-${j}`).sort(), `client ${j}: notes`);
    }

    // socketsJoin / socketsLeave from each server, seen by a third
    for (let i = 0; i < n; i++) {
      const j = (i + 1) % n;
      const k = (i + 2) % n;
      const room = `joined-${i}`;
      await ask(cs[i], "op-sockets-join", { to: [`room-${j}`], except: [] }, room);
      // a join from a stickyd worker reaches other hosts through its hub
      // and Redis: wait until the third server sees it
      await checkFor(async () => (await ask(cs[k], "op-fetch", { to: [room], except: [] })).length === 1);
      const got = once(cs[j], "in-joined");
      await ask(cs[k], "op-emit", { to: [room], except: [] }, "in-joined", room);
      assert.deepEqual(await got, [room]);
      await ask(cs[i], "op-sockets-leave", { to: [`room-${j}`], except: [] }, room);
      await checkFor(async () => (await ask(cs[k], "op-fetch", { to: [room], except: [] })).length === 0);
    }

    // nothing arrived twice
    await settle();
    ev.forEach((got, j) => assert.equal(got.length, n, `client ${j}: room broadcasts, once`));

    // disconnectSockets: server i disconnects the previous server's client
    for (let i = 1; i < n; i++) {
      const gone = once(cs[i - 1], "disconnect");
      await ask(cs[i], "op-disconnect", { to: [`room-${i - 1}`], except: [] }, false);
      await gone;
    }
  } finally {
    for (const c of cs) c.close();
  }
});
