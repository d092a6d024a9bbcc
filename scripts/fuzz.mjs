#!/usr/bin/env node
// `npm run fuzz -- NAME [seconds]`: runs one fuzz target (default 300 s); `npm run fuzz -- --ci`
// runs every target for its CI budget (NSM_FUZZ_SECONDS, default 30 s each; 6 targets).
// Native targets are libFuzzer executables (clang-14 + libclang-rt-14-dev, scripts/packages.txt)
// built into build-fuzz/ with seed corpora in native/fuzz/corpus/<name>; findings land in
// .tmp/fuzz/. TS targets (nlwatch, openflow, ovsdb) run test/fuzz/run.ts. Exit 1 on any finding.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";

const root = new URL("..", import.meta.url).pathname;
const native = ["memif_ctl", "memif_ring", "netlink"];
const ts = ["nlwatch", "openflow", "ovsdb"];
const args = process.argv.slice(2);
const ci = args.includes("--ci");
const names = ci ? [...native, ...ts] : args.filter((a) => !a.startsWith("-")).slice(0, 1);
const seconds = Number(ci ? (process.env.NSM_FUZZ_SECONDS ?? 30) : (args.filter((a) => !a.startsWith("-"))[1] ?? 300));
if (!names.length || names.some((n) => !native.includes(n) && !ts.includes(n))) {
  console.error(`usage: npm run fuzz -- <${[...native, ...ts].join("|")}> [seconds] | --ci`);
  process.exit(2);
}

const run = (cmd, argv, opts = {}) => spawnSync(cmd, argv, { cwd: root, stdio: "inherit", ...opts }).status ?? 1;

function buildNative() {
  const cxx = spawnSync("sh", ["-c", "command -v clang++-14 || command -v clang++"], {
    encoding: "utf8",
  }).stdout.trim();
  if (!cxx) return false;
  const cc = cxx.replace("clang++", "clang");
  if (!existsSync(join(root, "build-fuzz", "build.ninja"))) {
    const gen = run(
      "cmake",
      [
        "-S",
        ".",
        "-B",
        "build-fuzz",
        "-G",
        "Ninja",
        `-DCMAKE_CXX_COMPILER=${cxx}`,
        `-DCMAKE_C_COMPILER=${cc}`,
        "-DNSM_FUZZ=ON",
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    if (gen !== 0) return false;
  }
  return run("cmake", ["--build", "build-fuzz"]) === 0;
}

let failed = 0;
let built;
for (const name of names) {
  if (native.includes(name)) {
    built ??= buildNative();
    if (!built) {
      console.error(
        `fuzz ${name}: skipped (no clang++-14 with libFuzzer; apt-get install clang-14 libclang-rt-14-dev)`,
      );
      if (!ci) failed++;
      continue;
    }
    const out = join(root, ".tmp", "fuzz");
    mkdirSync(out, { recursive: true });
    const work = mkdtempSync(join(tmpdir(), `fuzz-${name}-`)); // new inputs stay out of the repo
    const st = run(join(root, "build-fuzz", `fuzz_${name}`), [
      `-max_total_time=${seconds}`,
      "-print_final_stats=1",
      `-artifact_prefix=${out}/${name}-`,
      work,
      join(root, "native", "fuzz", "corpus", `fuzz_${name}`),
    ]);
    console.log(`fuzz ${name}: ${st === 0 ? "no finding" : "FINDING (see above and .tmp/fuzz/)"}`);
    if (st !== 0) failed++;
  } else {
    if (run(process.execPath, ["--import", "tsx", "test/fuzz/run.ts", name, String(seconds)]) !== 0) failed++;
  }
}
process.exit(failed ? 1 : 0);
