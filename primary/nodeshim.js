// stickyd's preload for Node workers (node --require, added to NODE_OPTIONS
// by stickyd; see docs/node.md). It changes nothing in the app. When the app
// loads @socket.io/sticky, it wraps setupWorker so that
//   - stickyd learns the moment the app can take connections
//     ({type: "stickyd:ready"} once setupWorker has run): before that a
//     connection handed over would be emitted to no listener and lost;
//   - connections stay open after a response (@socket.io/sticky 2.x's
//     "Connection: close" is taken out again); a request on a kept-alive
//     connection whose sid belongs to another worker is not served here:
//     the connection goes back to stickyd (process.send with its handle)
//     with the request bytes this worker consumed, and stickyd routes it
//     to the sid's worker (sticky 1.x's issue #8 cannot happen);
//   - with STICKYD_NODE_SIDS=stickyd, Engine.IO's session ids carry the
//     worker's instance (stickyd's sid format), so stickyd routes every
//     request by its sid alone and none waits for the sid table.
"use strict";
const Module = require("module");
const crypto = require("crypto");
const { isUtf8 } = require("buffer");

const instance = parseInt(process.env.STICKYD_INSTANCE || "0", 10) >>> 0;
const stickydSids = process.env.STICKYD_NODE_SIDS === "stickyd";
const jsonChannel = process.env.NODE_CHANNEL_SERIALIZATION_MODE !== "advanced";
const wrapped = Symbol("stickyd.wrapped");
const connID = Symbol("stickyd.conn");
const sidParam = /[?&]sid=([^&#]*)/;

// stickydSid returns base64url(instance as 4 big-endian bytes, 17 random bytes).
function stickydSid() {
  const raw = Buffer.alloc(21);
  raw.writeUInt32BE(instance, 0);
  crypto.randomFillSync(raw, 4);
  return raw.toString("base64url");
}

// foreign reports whether req names (in its first sid parameter, as
// stickyd's router reads it) a session of another worker: for stickyd
// sids one naming another instance, for random sids one this worker's
// Engine.IO does not know.
function foreign(io, req) {
  const m = sidParam.exec(req.url);
  if (!m || m[1] === "") return false;
  const sid = m[1];
  if (stickydSids) {
    if (sid.length !== 28) return false;
    const raw = Buffer.from(sid, "base64url");
    return raw.length === 21 && raw.readUInt32BE(0) !== instance;
  }
  const clients = io.engine && io.engine.clients;
  return !!clients && !Object.prototype.hasOwnProperty.call(clients, sid);
}

// requestBytes rebuilds the request head of req (its body, when given,
// follows with its length as Content-Length) and appends rest.
function requestBytes(req, body, rest) {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (body && /^(content-length|transfer-encoding)$/i.test(raw[i])) continue;
    head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  if (body) head += `Content-Length: ${body.length}\r\n`;
  head += "\r\n";
  return Buffer.concat([Buffer.from(head, "latin1"), body || rest || Buffer.alloc(0)]);
}

// giveBack sends socket back to stickyd with data, the request bytes
// consumed, and then lets go of it here: the native handle goes (so that
// Node tracks no socket list for the parent), and once it is written the
// socket is destroyed, which closes this worker's copy only. Without a
// handle (the client left meanwhile) the socket is just destroyed.
function giveBack(socket, data) {
  socket.pause();
  socket.setTimeout(0);
  const handle = socket._handle;
  if (!handle || !process.send) {
    socket.destroy();
    return;
  }
  const msg = { type: "stickyd:handback", conn: socket[connID] || 0, data: data.toString("base64") };
  process.send(msg, handle, () => socket.destroy());
}

// refuse answers a request stickyd cannot be given back and closes.
function refuse(res, code, text) {
  res.writeHead(code, { "Content-Type": "text/plain", Connection: "close" });
  res.end(text);
}

// handBackRequest reads req's body, if any, up to limit bytes, and gives
// req's connection back with the request.
function handBackRequest(req, res, limit) {
  const hasBody = req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
  if (!hasBody) {
    giveBack(req.socket, requestBytes(req, null, null));
    return;
  }
  const chunks = [];
  let size = 0;
  let failed = false;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > limit && !failed) {
      failed = true;
      refuse(res, 413, "Payload Too Large");
      return;
    }
    if (!failed) chunks.push(chunk);
  });
  req.on("error", () => req.socket.destroy());
  req.on("end", () => {
    if (failed) return;
    const data = requestBytes(req, Buffer.concat(chunks, size), null);
    if (jsonChannel && !isUtf8(data)) {
      // json mode carries the request to its worker as a string
      refuse(res, 400, "Bad Request: body is not UTF-8");
      return;
    }
    giveBack(req.socket, data);
  });
}

// keepAlive lets io's HTTP server keep connections open and hands back
// the requests (and upgrades) that name another worker's session.
function keepAlive(io, httpServer) {
  const emit = httpServer.emit;
  httpServer.emit = function (event, ...args) {
    if (event === "request" && foreign(io, args[0])) {
      const limit = (io.engine && io.engine.opts && io.engine.opts.maxHttpBufferSize) || 1e6;
      handBackRequest(args[0], args[1], limit);
      return true;
    }
    if (event === "upgrade" && foreign(io, args[0])) {
      const [req, socket, head] = args;
      giveBack(socket, requestBytes(req, null, head));
      return true;
    }
    return emit.call(this, event, ...args);
  };
}

// tagConnections remembers on each socket stickyd hands over the id
// stickyd sent it under (stickydConn), to name it when handing it back.
// It runs before any other listener: sticky 1.x parses the first request
// within its own.
function tagConnections() {
  process.prependListener("message", (msg, socket) => {
    if (socket && msg && msg.type === "sticky:connection" && msg.stickydConn) socket[connID] = msg.stickydConn;
  });
}

function wrapSticky(exp) {
  if (!exp || typeof exp.setupWorker !== "function" || exp[wrapped]) return;
  const setupWorker = exp.setupWorker;
  exp.setupWorker = function (io, ...rest) {
    if (stickydSids && io && io.engine) io.engine.generateId = stickydSid;
    const server = io && io.httpServer;
    const before = server ? server.listeners("request") : [];
    if (server) {
      tagConnections();
      keepAlive(io, server);
    }
    const result = setupWorker.call(this, io, ...rest);
    if (server) {
      // sticky 2.x adds a "request" listener that sets Connection: close
      for (const l of server.listeners("request")) if (!before.includes(l)) server.removeListener("request", l);
    }
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
