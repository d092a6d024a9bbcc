#!/usr/bin/env node
// `npm run test:asan`: the tests that touch the addon, against the ASan + UBSan build in
// build-asan/ (`npm run build:asan`, run here when missing). Node is not instrumented, so the
// sanitizer runtime is LD_PRELOADed; node's own allocations are not leak-checked
// (detect_leaks=0), every addon error aborts the run. Also replays the libFuzzer seed corpora
// when build-fuzz/ exists (those executables carry their own ASan + UBSan).
// Extra args narrow the file set, as for `npm test`.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const out = join(root, "build-asan", "Release");
const addon = join(out, "nsm_native.node");
if (!existsSync(addon) || !existsSync(join(out, "memif_hostile"))) {
  const b = spawnSync("npm", ["run", "build:asan"], { cwd: root, stdio: "inherit" });
  if (b.status !== 0) process.exit(b.status ?? 1);
}
const libasan = spawnSync("gcc", ["-print-file-name=libasan.so"], { encoding: "utf8" }).stdout.trim();
if (!libasan.startsWith("/")) {
  console.error("test:asan: libasan.so not found (gcc -print-file-name=libasan.so)");
  process.exit(1);
}

let failed = 0;
const corpora = join(root, "native", "fuzz", "corpus");
for (const t of existsSync(join(root, "build-fuzz")) ? readdirSync(corpora) : []) {
  const exe = join(root, "build-fuzz", t);
  if (!existsSync(exe)) continue;
  const r = spawnSync(exe, ["-runs=0", join(corpora, t)], { cwd: root, encoding: "utf8" });
  console.log(`${t}: seed corpus ${r.status === 0 ? "clean" : `FAILED\n${r.stderr}`}`);
  if (r.status !== 0) failed++;
}

const files = [
  "test/e2e/memif.test.ts",
  "test/e2e/memif-control.test.ts",
  "test/e2e/memif-xconnect.test.ts",
  "test/e2e/memif-hostile.test.ts",
  "test/e2e/memif-env.test.ts",
  "test/e2e/native-args.test.ts",
  "test/e2e/datapath-links.test.ts",
  "test/e2e/datapath-errors.test.ts",
  "test/e2e/datapath-addr-route-neigh.test.ts",
];
const paths = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const chosen = paths.length ? files.filter((f) => paths.some((p) => f.includes(p))) : files;
const r = spawnSync(
  process.execPath,
  [
    "--import",
    "./scripts/asan-unpreload.mjs",
    "--import",
    "tsx",
    "--test",
    "--test-concurrency=1",
    "--test-reporter=spec",
    ...chosen,
  ],
  {
    cwd: root,
    stdio: "inherit",
    env: {
      ...process.env,
      LD_PRELOAD: libasan,
      ASAN_OPTIONS: "detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=0",
      UBSAN_OPTIONS: "print_stacktrace=1:halt_on_error=1",
      NSM_NATIVE_ADDON: addon,
      NSM_NATIVE_TEST_DIR: out,
    },
  },
);
if (r.status !== 0) failed++;
process.exit(failed ? 1 : 0);
