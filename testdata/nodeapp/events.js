// The events client.test.mjs drives; every cluster operation of the
// cluster adapter is one of them.
const pid = process.pid;

module.exports = function events(io, socket) {
  const isFn = (f) => typeof f === "function";
  socket.on("whoami", (ack) => ack(pid));
  socket.on("echo", (data, ack) => ack(data));
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack(pid);
  });
  socket.on("broadcast", (room, payload, ack) => {
    io.to(room).emit("bcast", payload);
    ack("ok");
  });
  socket.on("broadcast-except", (room, except, payload, ack) => {
    io.to(room).except(except).emit("bcast", payload);
    ack("ok");
  });
  socket.on("count", async (room, ack) => {
    const sockets = await io.in(room).fetchSockets();
    ack(sockets.length, sockets.map((s) => s.id));
  });
  socket.on("server-ping", (ack) => {
    io.serverSideEmit("ping-all", (err, responses) => ack(err ? String(err) : null, responses || []));
  });
  socket.on("server-count", async (ack) => ack(await io.of("/").adapter.serverCount()));
  socket.on("sockets-join", (room, to, ack) => {
    io.in(room).socketsJoin(to);
    ack("ok");
  });
  socket.on("sockets-leave", (room, from, ack) => {
    io.in(room).socketsLeave(from);
    ack("ok");
  });
  socket.on("disconnect-room", (room, ack) => {
    io.in(room).disconnectSockets(true);
    ack("ok");
  });
  socket.on("broadcast-ack", (room, ack) => {
    io.to(room).timeout(3000).emit("question", (err, answers) => ack(err ? String(err) : null, answers));
  });
  socket.on("remote-emit", async (room, ack) => {
    const sockets = await io.in(room).fetchSockets();
    for (const s of sockets) s.emit("remote", pid);
    ack(sockets.length);
  });
  socket.on("question", () => {});
  socket.on("exit", () => process.exit(1));
  if (isFn(socket.onAny)) socket.onAny(() => {});
};
