"use strict";
// Shared by capture.js and capture-sharded.js: a list of recorded Redis
// messages labelled with the step that produced them, and the script runner.

function newRecorder() {
  const records = [];
  let label = "none";
  // record adds one message under the current step's name.
  const record = (channel, msg) => records.push({ name: label, channel: channel.toString(), hex: msg.toString("hex") });
  // step runs fn under name and waits until `count` messages more were recorded.
  async function step(name, count, fn) {
    label = name;
    const want = records.length + count;
    await fn();
    const deadline = Date.now() + 3000;
    while (records.length < want) {
      if (Date.now() > deadline) throw new Error(`capture: ${name}: ${records.length} of ${want} messages`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { records, record, step };
}

// run runs main and exits 0, or 1 with its error.
function run(main) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    }
  );
}

// redisURL is REDIS_URL, required.
function redisURL() {
  if (!process.env.REDIS_URL) {
    console.error("capture: REDIS_URL is required");
    process.exit(2);
  }
  return process.env.REDIS_URL;
}

module.exports = { newRecorder, run, redisURL };
