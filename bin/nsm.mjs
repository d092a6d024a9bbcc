#!/usr/bin/env node
// The `nsm` CLI. The command runs in this process (no child), so a signal sent to this pid
// (`kill $!` after `nsm nsc &`) reaches the component itself.
// - installed package: imports the compiled entry, dist/src/cmd/nsm.js;
// - dev checkout (src/ beside bin/): runs the TypeScript sources through tsx, registered in this
//   process, so the command always matches the tree and a stale dist/ is never used.
//   NSM_BIN_DIST=1 makes a checkout use its dist/ (after `npm run build:ts`), as the package does.
import { existsSync } from "node:fs";

// npm (npx, npm start) runs a bin as npm → sh -c → node and passes SIGTERM/SIGINT only to the sh,
// which dies and leaves us orphaned: `kill $!` after `npx nsm nsc &` would not stop the nsc. So when
// npm started us, our parent's death counts as SIGTERM (the component's own shutdown path runs).
// Processes we start (`nsm up`'s components) are meant to outlive us: the marker stops them watching.
if (process.env.npm_lifecycle_event !== undefined && process.env.NSM_BIN_WATCHES_PARENT === undefined) {
  process.env.NSM_BIN_WATCHES_PARENT = String(process.pid);
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    process.kill(process.pid, "SIGTERM");
  }, 200);
  watch.unref();
}

const src = new URL("../src/cmd/nsm.ts", import.meta.url);
const dist = new URL("../dist/src/cmd/nsm.js", import.meta.url);
let entry = dist;
if (existsSync(src) && !process.env.NSM_BIN_DIST) {
  // tsx is a dev dependency: a checkout without it (npm ci --omit=dev) falls back to dist/
  const tsx = await import("tsx/esm/api").catch(() => undefined);
  if (tsx) {
    tsx.register();
    entry = src;
  }
}
if (entry === dist && !existsSync(dist)) {
  console.error(`nsm: ${dist.pathname} is missing; run "npm run build:ts" (or "npm ci" for tsx)`);
  process.exit(1);
}
const { main } = await import(entry.href);
await main(process.argv.slice(2));
