#!/usr/bin/env node
// `npm test`: lint (eslint, prettier, clang-format; skipped for a narrowed run), type-check, then run every *.test.ts under src/ and test/ with node's test runner.
// Root-only tests skip themselves when not root. Extra args are passed to node --test
// (e.g. `npm test -- --test-name-pattern=registry`) or, if they are paths, narrow the file set.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith(".test.ts")) out.push(relative(root, p));
  }
  return out;
}
const args = process.argv.slice(2);
const paths = args.filter((a) => !a.startsWith("-"));
const flags = args.filter((a) => a.startsWith("-"));
let files = [...walk(join(root, "src"), []), ...walk(join(root, "test"), [])].sort();
if (paths.length) files = files.filter((f) => paths.some((p) => f.startsWith(p) || f.includes(p)));
if (!process.env.NSM_SKIP_LINT && !paths.length) {
  const lint = spawnSync("npm", ["run", "--silent", "lint"], { cwd: root, stdio: "inherit" });
  if (lint.status !== 0) {
    console.error("lint failed (npm run format fixes formatting)");
    process.exit(lint.status ?? 1);
  }
}
if (!process.env.NSM_SKIP_TYPECHECK) {
  const tc = spawnSync("npx", ["tsc", "-p", "tsconfig.json", "--noEmit"], { cwd: root, stdio: "inherit" });
  if (tc.status !== 0) {
    console.error("type check failed");
    process.exit(tc.status ?? 1);
  }
}
const r = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    "--test-concurrency=1",
    "--test-force-exit",
    "--test-reporter=spec",
    ...flags,
    ...files,
  ],
  { cwd: root, stdio: "inherit" },
);
process.exit(r.status ?? 1);
