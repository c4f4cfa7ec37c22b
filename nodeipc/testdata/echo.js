// Child of nodeipc's tests: echoes every message back as {echo: message};
// a handle (a socket) gets "hello " + msg.data written on it and is ended,
// unless msg.type is "give-back": then it goes back to the parent with
// {type: "back", data: msg.data} (and the echo is queued by Node until the
// parent's NODE_HANDLE_ACK).
process.on("message", (msg, handle) => {
  if (handle && msg.type === "give-back") {
    process.send({ type: "back", data: msg.data }, handle);
  } else if (handle) {
    handle.end("hello " + msg.data);
  }
  process.send({ echo: msg });
});
process.send({ started: true });
