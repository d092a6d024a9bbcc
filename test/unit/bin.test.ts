/**
 * The `nsm` bin in a checkout (tsx over src/, in-process): the bare command fails with the help,
 * and a component started through npx stops when npx is killed (npx's shell passes no signal on;
 * the bin watches its parent). The installed package is covered by test/e2e/pack.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { cleanEnv, pidsWith, until } from "../helpers/procs.js";

const run = promisify(execFile);
const root = new URL("../..", import.meta.url).pathname;
const bin = join(root, "bin", "nsm.mjs");

test("nsm without a command prints the help on stderr and exits 2; --help exits 0", { timeout: 30_000 }, async () => {
  const bare = await run(process.execPath, [bin], { env: cleanEnv() }).then(
    () => assert.fail("exited 0"),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
  assert.equal(bare.code, 2);
  assert.equal(bare.stdout, "");
  assert.match(bare.stderr, /^nsm \d+\.\d+\.\d+ .*\n\nusage: nsm <command>/);
  const help = await run(process.execPath, [bin, "--help"], { env: cleanEnv() });
  assert.match(help.stdout, /usage: nsm <command>/);
});

test(
  "kill of `npm run nsm -- registry` (as of `npx nsm registry`) stops the registry, which shuts down cleanly",
  { timeout: 60_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "nsm-bin-"));
    const sock = join(dir, "reg.sock");
    t.after(() => {
      for (const pid of procs()) process.kill(pid, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    });
    const procs = () => pidsWith(`NSM_LISTEN_ON=unix://${sock}\0`, "environ"); // npm, its sh and node
    // `npm run nsm` runs the bin as npx does: npm → sh -c → node, npm signalling only the sh
    const npx = spawn("npm", ["run", "--silent", "nsm", "--", "registry"], {
      cwd: root,
      env: { ...cleanEnv(), NSM_LISTEN_ON: `unix://${sock}`, NSM_LOG_LEVEL: "WARN" },
      stdio: "ignore",
    });
    await until("the registry socket", 40_000, () => existsSync(sock));
    assert.ok(procs().length >= 2, "npm and the nsm process under it");
    npx.kill("SIGTERM");
    await until("every process of `npm run nsm -- registry` to exit", 5_000, () => procs().length === 0);
    assert.ok(!existsSync(sock), "the registry did not remove its socket (not a clean SIGTERM shutdown)");
  },
);
