// A Node worker that writes garbage on its IPC channel (a line that is not
// JSON, in json mode), sends a value outside stickyd's V8 subset (a Date,
// in advanced mode), then runs app.js as usual.
const fs = require("fs");
if (process.env.BAD === "garbage") fs.writeSync(3, "}{ not json\n");
if (process.env.BAD === "date") process.send({ when: new Date(), map: new Map([[1, 2]]) });
require("../app.js");
