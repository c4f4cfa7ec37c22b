// Reconnection and ping timeouts as the official client sees them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { URL, connect, once, whoami } from "./lib.mjs";

test("a client that stops answering pings is disconnected by the server", async () => {
  // The server under test runs with CONFORMANCE=1: pingInterval 300 ms, pingTimeout 200 ms.
  const s = await connect({ transports: ["websocket"] });
  const engine = s.io.engine;
  engine._sendPacket = (type, ...rest) => {
    if (type === "pong") return; // swallow our answers
    return Object.getPrototypeOf(engine)._sendPacket.call(engine, type, ...rest);
  };
  // keep the client's own watchdog out of it: only the server may end this
  engine.clearTimeoutFn(engine._pingTimeoutTimer);
  engine._resetPingTimeout = () => {};
  engine._pingTimeoutTime = Infinity;
  const [reason] = await once(s, "disconnect", 5000);
  assert.equal(reason, "transport close");
  s.close();
});

test("the client reconnects after the server side closes, to a working session", async () => {
  const s = io(URL, { forceNew: true, transports: ["websocket"], reconnectionDelay: 50, reconnectionDelayMax: 100 });
  try {
    await once(s, "connect");
    const firstId = s.id;
    s.io.engine.close(); // drop the transport under the client
    await once(s, "connect", 5000);
    assert.notEqual(s.id, firstId);
    assert.ok(typeof (await whoami(s)) === "number");
  } finally {
    s.close();
  }
});
