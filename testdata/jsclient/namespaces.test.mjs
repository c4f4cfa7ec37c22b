// Namespaces, middlewares with auth, and what a client gets for a bad one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "./lib.mjs";

test("custom namespace receives the handshake auth", async () => {
  const s = await connect({ auth: { token: "abc", n: 1 } }, "/custom");
  try {
    assert.deepEqual(s.authReceived, { token: "abc", n: 1 });
  } finally {
    s.close();
  }
});

test("main namespace echoes auth, {} by default", async () => {
  const s = await connect({});
  try {
    assert.deepEqual(s.authReceived, {});
  } finally {
    s.close();
  }
});

test("unknown namespace gets connect_error Invalid namespace", async () => {
  await assert.rejects(connect({}, "/nope"), (err) => err.message === "Invalid namespace");
});

test("middleware rejects without the token, with error data", async () => {
  await assert.rejects(connect({ auth: { token: "wrong" } }, "/private"), (err) => {
    assert.equal(err.message, "unauthorized");
    assert.deepEqual(err.data, { reason: "bad token" });
    return true;
  });
});

test("middleware accepts the token", async () => {
  const s = await connect({ auth: { token: "letmein" } }, "/private");
  s.close();
});
