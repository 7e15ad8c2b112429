// A bare Node echo on a unix socket: the daemon's runtime without its work
// (scripts/socket-rtt.sh). Exits after the given number of seconds.
import { createServer } from "node:net";
import { rmSync } from "node:fs";

const [path, seconds = "60"] = process.argv.slice(2);
rmSync(path, { force: true });
const server = createServer((c) => c.on("data", (d) => c.write(d)));
server.listen(path, () => console.log("listening"));
setTimeout(() => process.exit(0), Number(seconds) * 1000);
