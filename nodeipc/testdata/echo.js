// Child of nodeipc's tests: echoes every message back as {echo: message};
// a handle (a socket) gets "hello " + msg.data written on it and is ended.
process.on("message", (msg, handle) => {
  if (handle) {
    handle.end("hello " + msg.data);
  }
  process.send({ echo: msg });
});
process.send({ started: true });
