// stickyd's preload for Node workers (node --require, added to NODE_OPTIONS
// by stickyd; see docs/node.md). It changes nothing in the app. When the app
// loads @socket.io/sticky, it wraps setupWorker so that
//   - stickyd learns the moment the app can take connections
//     ({type: "stickyd:ready"} once setupWorker has run): before that a
//     connection handed over would be emitted to no listener and lost;
//   - every response closes its connection (Connection: close, as
//     @socket.io/sticky 2.x does): a Node worker cannot hand a kept-alive
//     connection back to stickyd, so each request comes back through
//     stickyd's router instead of reaching whichever worker got the
//     connection first (sticky 1.x's issue #8);
//   - with STICKYD_NODE_SIDS=stickyd, Engine.IO's session ids carry the
//     worker's instance (stickyd's sid format), so stickyd routes every
//     request by its sid alone and none waits for the sid table.
"use strict";
const Module = require("module");
const crypto = require("crypto");

const instance = parseInt(process.env.STICKYD_INSTANCE || "0", 10) >>> 0;
const stickydSids = process.env.STICKYD_NODE_SIDS === "stickyd";
const wrapped = Symbol("stickyd.wrapped");

// stickydSid returns base64url(instance as 4 big-endian bytes, 17 random bytes).
function stickydSid() {
  const raw = Buffer.alloc(21);
  raw.writeUInt32BE(instance, 0);
  crypto.randomFillSync(raw, 4);
  return raw.toString("base64url");
}

function wrapSticky(exp) {
  if (!exp || typeof exp.setupWorker !== "function" || exp[wrapped]) return;
  const setupWorker = exp.setupWorker;
  exp.setupWorker = function (io, ...rest) {
    if (stickydSids && io && io.engine) io.engine.generateId = stickydSid;
    if (io && io.httpServer) {
      io.httpServer.prependListener("request", (req, res) => {
        if (!res.headersSent) res.setHeader("Connection", "close");
      });
    }
    const result = setupWorker.call(this, io, ...rest);
    if (process.send) process.send({ type: "stickyd:ready" });
    return result;
  };
  exp[wrapped] = true;
}

const load = Module._load;
Module._load = function (request, ...rest) {
  const exp = load.call(this, request, ...rest);
  if (request === "@socket.io/sticky" || /[\\/]@socket\.io[\\/]sticky[\\/]/.test(request)) wrapSticky(exp);
  return exp;
};
