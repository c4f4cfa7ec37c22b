// A Node worker whose slot 2 exits (status 3) before its app is ready;
// slot 1 runs app.js.
if (process.env.STICKYD_WORKER_ID === "2") process.exit(3);
require("../app.js");
