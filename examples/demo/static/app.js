// The demo page: one Socket.IO client per tab, in the room named by the
// path (/room/NAME). Query parameters: name=NAME, transport=polling or
// transport=websocket (only that transport).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const room = decodeURIComponent(location.pathname.split("/")[2] || "lobby");
  const name = params.get("name") || "guest-" + Math.random().toString(36).slice(2, 6);

  const options = { auth: { room, name } };
  const only = params.get("transport");
  if (only === "polling" || only === "websocket") options.transports = [only];
  const socket = io(options);

  $("room-name").textContent = room;
  document.title = room + " · stickyd demo";

  function setStatus(text, kind) {
    $("status").textContent = text;
    $("status").className = kind;
  }

  function showTransport() {
    const t = socket.io.engine ? socket.io.engine.transport.name : "…";
    $("transport").textContent = t;
    $("transport").dataset.transport = t;
  }

  socket.on("connect", () => {
    setStatus("connected", "ok");
    showTransport();
    socket.io.engine.once("upgrade", showTransport);
    refreshRooms();
  });
  socket.on("disconnect", (reason) => setStatus("disconnected: " + reason, "bad"));
  socket.on("connect_error", (err) => setStatus("error: " + err.message, "bad"));
  socket.io.on("reconnect_attempt", (n) => setStatus("reconnecting (" + n + ")", "pending"));

  socket.on("welcome", (w) => {
    const previous = $("pid").dataset.pid;
    if (previous && previous !== String(w.pid)) {
      const li = document.createElement("li");
      li.className = "system";
      li.textContent = "reconnected: worker " + previous + " → " + w.pid;
      addLine(li);
    }
    $("pid").textContent = w.pid;
    $("pid").dataset.pid = w.pid;
    $("name").textContent = w.name;
    $("tab").dataset.socketId = w.id;
  });

  function addLine(node) {
    const list = $("messages");
    list.appendChild(node);
    list.scrollTop = list.scrollHeight;
  }

  socket.on("chat", (m) => {
    const li = document.createElement("li");
    li.className = "msg" + (m.name === $("name").textContent ? " mine" : "");
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = m.name;
    const worker = document.createElement("span");
    worker.className = "worker";
    worker.textContent = "pid " + m.pid;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = m.text;
    const when = document.createElement("time");
    when.textContent = new Date(m.at).toLocaleTimeString();
    li.append(who, worker, when, text);
    addLine(li);
  });

  socket.on("system", (text) => {
    const li = document.createElement("li");
    li.className = "system";
    li.textContent = text;
    addLine(li);
  });

  // The room list is rebuilt from the cluster after every change; a change
  // arriving while a refresh is in flight triggers one more.
  let refreshing = false;
  let again = false;
  function refreshRooms() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    socket.timeout(6000).emit("rooms", (err, rooms) => {
      refreshing = false;
      if (!err) renderRooms(rooms);
      if (again) {
        again = false;
        refreshRooms();
      }
    });
  }
  socket.on("rooms-changed", refreshRooms);
  setInterval(() => socket.connected && refreshRooms(), 10000);

  function renderRooms(rooms) {
    const list = $("rooms");
    list.replaceChildren();
    if (rooms.length === 0) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = "no rooms";
      list.appendChild(li);
    }
    for (const r of rooms) {
      const li = document.createElement("li");
      li.dataset.room = r.name;
      li.dataset.count = r.members.length;
      if (r.name === room) li.className = "current";
      const link = document.createElement("a");
      link.href = "/room/" + encodeURIComponent(r.name) + location.search;
      link.textContent = r.name;
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = r.members.length;
      const members = document.createElement("span");
      members.className = "members";
      members.textContent = r.members.map((m) => m.name + " @" + m.pid).join(", ");
      li.append(link, count, members);
      list.appendChild(li);
    }
  }

  $("send").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("text").value.trim();
    if (text) socket.emit("chat", text);
    $("text").value = "";
  });

  $("goto").addEventListener("submit", (e) => {
    e.preventDefault();
    const next = $("new-room").value.trim();
    if (/^[A-Za-z0-9_-]{1,32}$/.test(next)) location.href = "/room/" + next + location.search;
  });
})();
