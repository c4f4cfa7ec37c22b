// Tests only (preloaded with NODE_OPTIONS=--require): STICKY=2 makes
// require("@socket.io/sticky") load @socket.io/sticky 2.0.1, ADAPTER=0.2
// makes require("@socket.io/cluster-adapter") load 0.2.2, so that app.js
// stays exactly as the README shows.
const Module = require("module");
const alias = {};
if (process.env.STICKY === "2") alias["@socket.io/sticky"] = "sticky-2";
if (process.env.ADAPTER === "0.2") alias["@socket.io/cluster-adapter"] = "cluster-adapter-0.2";
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return resolve.call(this, alias[request] || request, ...rest);
};
