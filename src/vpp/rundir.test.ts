// Stale VPP run directories: only ours (owner file, our uid, same pid namespace) whose owner and
// VPP are both gone are removed, with their shared-memory files. Real processes, temp dirs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { vppPrefixOf } from "./launch.js";
import { makeVppRunDir, OWNER_FILE, recordVppPid, removeStaleVppRunDirs } from "./rundir.js";

const PREFIX = "nsm-vpp-rd-";

function places(t: { after: (f: () => void) => void }) {
  const root = mkdtempSync(join(tmpdir(), "nsm-rundir-test-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const base = join(root, "tmp"),
    shm = join(root, "shm");
  mkdirSync(base);
  mkdirSync(shm);
  return { base, shm };
}

/** a pid that ran and is gone (reaped) */
const deadPid = () => spawnSync("true").pid!;

/** rewrites the owner file as if process `pid` (with its real start time, or `start`) had made it */
function ownBy(dir: string, pid: number, start?: string) {
  const f = join(dir, OWNER_FILE);
  const o = JSON.parse(readFileSync(f, "utf8")) as { owner: { pid: number; start: string } };
  o.owner = { pid, start: start ?? o.owner.start };
  writeFileSync(f, JSON.stringify(o));
}

test("removeStaleVppRunDirs: a dead owner's directory and its shm files go; live, foreign and unrelated ones stay", (t) => {
  const p = places(t);
  const dead = makeVppRunDir(PREFIX, p);
  ownBy(dead, deadPid());
  const shmDead = [`${vppPrefixOf(dead)}-global_vm`, `${vppPrefixOf(dead)}-vpe-api`];
  for (const f of shmDead) writeFileSync(join(p.shm, f), "");
  const live = makeVppRunDir(PREFIX, p); // ours, running
  writeFileSync(join(p.shm, `${vppPrefixOf(live)}-global_vm`), "");
  const noOwner = join(p.base, `${PREFIX}plain`); // not made by makeVppRunDir
  mkdirSync(noOwner);
  const reused = makeVppRunDir(PREFIX, p); // our pid, but another process's start time: pid reused
  ownBy(reused, process.pid, "1");
  const otherNs = makeVppRunDir(PREFIX, p); // made in another pid namespace: its pids mean nothing here
  ownBy(otherNs, deadPid());
  const f = join(otherNs, OWNER_FILE);
  writeFileSync(f, JSON.stringify({ ...JSON.parse(readFileSync(f, "utf8")), pidns: "pid:[1]" }));
  const link = join(p.base, `${PREFIX}link`); // a symlink to a dead owner's directory is not followed
  const target = makeVppRunDir("elsewhere-", p);
  ownBy(target, deadPid());
  symlinkSync(target, link);
  const otherName = makeVppRunDir("nsm-other-", p); // another prefix
  ownBy(otherName, deadPid());

  const removed = removeStaleVppRunDirs(PREFIX, undefined, p);
  assert.deepEqual(removed.sort(), [dead, reused].sort());
  assert.ok(!existsSync(dead) && !existsSync(reused));
  for (const f of shmDead) assert.ok(!existsSync(join(p.shm, f)), `${f} removed`);
  for (const d of [live, noOwner, otherNs, link, target, otherName]) assert.ok(existsSync(d), `${d} kept`);
  assert.ok(existsSync(join(p.shm, `${vppPrefixOf(live)}-global_vm`)), "a live VPP's shm kept");
  // idempotent
  assert.deepEqual(removeStaleVppRunDirs(PREFIX, undefined, p), []);
});

test("removeStaleVppRunDirs: a dead owner's directory stays while its VPP runs", async (t) => {
  const p = places(t);
  const dir = makeVppRunDir(PREFIX, p);
  ownBy(dir, deadPid());
  // stands in for the VPP: recorded by pid, then (a VPP never recorded) found by its vpp.conf argument
  const vpp = spawn("sleep", ["30"], { stdio: "ignore" });
  t.after(() => vpp.kill("SIGKILL"));
  recordVppPid(dir, vpp.pid!);
  assert.deepEqual(removeStaleVppRunDirs(PREFIX, undefined, p), []);
  const unrecorded = makeVppRunDir(PREFIX, p);
  ownBy(unrecorded, deadPid());
  const confPath = join(unrecorded, "vpp.conf");
  const conf = spawn("sh", ["-c", "sleep 30; :", "vpp", "-c", confPath], { stdio: "ignore" });
  t.after(() => conf.kill("SIGKILL"));
  // until it runs with that argument (spawn reports before the exec)
  while (!readFileSync(`/proc/${conf.pid}/cmdline`, "utf8").includes(confPath))
    await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(removeStaleVppRunDirs(PREFIX, undefined, p), []);

  const gone = new Promise((r) => vpp.once("exit", r));
  vpp.kill("SIGKILL");
  await gone;
  assert.deepEqual(removeStaleVppRunDirs(PREFIX, undefined, p), [dir]);
  assert.ok(existsSync(unrecorded));
  const confGone = new Promise((r) => conf.once("exit", r));
  conf.kill("SIGKILL");
  await confGone;
  assert.deepEqual(removeStaleVppRunDirs(PREFIX, undefined, p), [unrecorded]);
});
