/**
 * Run directories of the VPPs we start, and their removal after a crash. A SIGKILLed owner (the
 * vL3 endpoint) takes its VPP with it (launchVpp's parent-death signal) but leaves the VPP's run
 * directory and its shared-memory files (/dev/shm/<prefix>-*) behind. Each directory made here
 * carries an owner file naming the owning process and, once started, its VPP (pid, start time and
 * pid namespace); `removeStaleVppRunDirs` removes only directories that carry such a file, belong
 * to our uid and whose owner and VPP are both gone.
 *
 *   removeStaleVppRunDirs("nsm-vl3-vpp-", log);   // before starting: a crashed predecessor's leftovers
 *   const dir = makeVppRunDir("nsm-vl3-vpp-");
 *   const vpp = await launchVpp({ dir });
 *   recordVppPid(dir, vpp.pid);
 */
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "../tools/log.js";
import { vppPrefixOf } from "./launch.js";

/** the owner file in a run directory */
export const OWNER_FILE = "nsm-owner.json";
const TAG = "nsm-ts vpp run dir";

interface Proc {
  pid: number;
  /** /proc/<pid>/stat starttime: tells a reused pid from ours */
  start: string;
}
interface Owner {
  tag: string;
  pidns: string;
  owner: Proc;
  vpp?: Proc;
}

export interface RunDirPlaces {
  /** where run directories are made (default: os.tmpdir()) */
  base?: string;
  /** where VPP keeps its shared-memory files (default: /dev/shm) */
  shm?: string;
}

function startOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // the fields after "(comm)": state is field 3, starttime field 22
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

const pidns = () => readlinkSync("/proc/self/ns/pid");
const alive = (p: Proc) => startOf(p.pid) === p.start;
const proc = (pid: number): Proc => ({ pid, start: startOf(pid) ?? "" });

/** Makes `<base>/<prefix>XXXXXX` owned by this process (its owner file written). */
export function makeVppRunDir(prefix: string, o: RunDirPlaces = {}): string {
  const dir = mkdtempSync(join(o.base ?? tmpdir(), prefix));
  const owner: Owner = { tag: TAG, pidns: pidns(), owner: proc(process.pid) };
  writeFileSync(join(dir, OWNER_FILE), JSON.stringify(owner));
  return dir;
}

/** Records the VPP started in `dir` (pid `pid`): the directory is stale only once it is gone too. */
export function recordVppPid(dir: string, pid: number): void {
  const owner = JSON.parse(readFileSync(join(dir, OWNER_FILE), "utf8")) as Owner;
  writeFileSync(join(dir, OWNER_FILE), JSON.stringify({ ...owner, vpp: proc(pid) }));
}

/** whether a running process was started with `dir`'s vpp.conf (a VPP whose pid was never recorded) */
function vppRunsIn(dir: string): boolean {
  const conf = join(dir, "vpp.conf");
  for (const p of readdirSync("/proc").filter((x) => /^\d+$/.test(x)))
    try {
      if (readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").includes(conf)) return true;
    } catch {
      // gone meanwhile
    }
  return false;
}

/** The owner file of `dir` when it is one of ours: a small regular file with our tag. */
function ownerOf(dir: string): Owner | undefined {
  try {
    const f = join(dir, OWNER_FILE);
    const st = lstatSync(f);
    if (!st.isFile() || st.size > 4096 || st.uid !== process.getuid?.()) return undefined;
    const o = JSON.parse(readFileSync(f, "utf8")) as Partial<Owner>;
    if (o.tag !== TAG || typeof o.pidns !== "string" || typeof o.owner?.pid !== "number") return undefined;
    return o as Owner;
  } catch {
    return undefined;
  }
}

/**
 * Removes the run directories `<base>/<prefix>*` left by owners that died (SIGKILL), with their
 * VPP's shared-memory files. Kept: anything not a directory of our uid with our owner file, any
 * whose owner or VPP still runs, and any made in another pid namespace (its pids mean nothing
 * here). Returns the directories removed.
 */
export function removeStaleVppRunDirs(prefix: string, log?: Logger, o: RunDirPlaces = {}): string[] {
  const base = o.base ?? tmpdir(),
    shm = o.shm ?? "/dev/shm";
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(base).filter((n) => n.startsWith(prefix));
  } catch {
    return removed;
  }
  const ns = pidns();
  for (const n of names) {
    const dir = join(base, n);
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory() || st.uid !== process.getuid?.()) continue;
      const owner = ownerOf(dir);
      if (!owner || owner.pidns !== ns || alive(owner.owner)) continue;
      if (owner.vpp ? alive(owner.vpp) : vppRunsIn(dir)) continue;
      const shmPrefix = `${vppPrefixOf(dir)}-`;
      const shmFiles = (() => {
        try {
          return readdirSync(shm).filter((f) => f.startsWith(shmPrefix));
        } catch {
          return [];
        }
      })();
      for (const f of shmFiles) rmSync(join(shm, f), { force: true });
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
      log?.info(
        { dir, ownerPid: owner.owner.pid, vppPid: owner.vpp?.pid, shmFiles },
        "vpp: stale run directory removed",
      );
    } catch (e) {
      log?.warn({ dir, err: (e as Error).message }, "vpp: cannot remove a stale run directory");
    }
  }
  return removed;
}
