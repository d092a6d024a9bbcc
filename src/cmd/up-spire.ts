/**
 * `nsm up` with NSM_UP_SPIRE=1: a SPIRE server + agent of its own (spire.sh from NSM_SPIRE_DIR,
 * the copy scripts/setup.sh installs, or ../shared/spire), one registration entry per process of
 * the mesh, and every process fetching its SVID from the agent's Workload API. Each process runs
 * with a group id of its own, so the agent's unix attestor tells them apart
 * (`unix:uid:0` + `unix:gid:<G>` → `spiffe://nsm.local/ns/nsm-system/sa/<process>`). `nsm down`
 * stops the pair (stopUpSpire).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const SPIRE_TD = "nsm.local";
const GID_BASE = 61_000;

/** spire.sh: NSM_SPIRE_DIR/spire.sh, the installed copy, ../shared/spire/spire.sh; undefined when none */
export function findSpire(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
  const candidates = [
    ...(env["NSM_SPIRE_DIR"] ? [join(env["NSM_SPIRE_DIR"], "spire.sh")] : []),
    "/usr/local/lib/nsm-test/spire.sh",
    join(repo, "../shared/spire/spire.sh"),
  ];
  return candidates.find((c) => existsSync(c));
}

export const spireDirOf = (stateFile: string, id: string) => join(dirname(stateFile), `${id}-spire`);

export interface UpSpire {
  readonly dir: string;
  readonly socket: string;
  /** the group id process `name` runs with (undefined: not one of the mesh's) */
  gid(name: string): number | undefined;
  readonly nscGid: number;
  idOf(name: string): string;
}

/** Starts SPIRE under `dir` and registers `names` (the mesh's processes) and the nsc. */
export function startUpSpire(spireSh: string, dir: string, names: readonly string[]): UpSpire {
  const socket = execFileSync(spireSh, ["start", dir, SPIRE_TD], { encoding: "utf8" }).trim();
  const gids = new Map(names.map((n, i) => [n, GID_BASE + i]));
  const nscGid = GID_BASE + names.length;
  const idOf = (n: string) =>
    n === "nsc" ? `spiffe://${SPIRE_TD}/ns/default/sa/nsc` : `spiffe://${SPIRE_TD}/ns/nsm-system/sa/${n}`;
  try {
    for (const [n, g] of [...gids, ["nsc", nscGid] as const])
      execFileSync(spireSh, ["entry", dir, idOf(n), "unix:uid:0", `unix:gid:${g}`]);
  } catch (e) {
    stopUpSpire(dir);
    throw e;
  }
  return { dir, socket, gid: (n) => gids.get(n), nscGid, idOf };
}

/** Stops the SPIRE server and agent under `dir` (their pid files) and removes it; true when there was one. */
export function stopUpSpire(dir: string): boolean {
  if (!existsSync(dir)) return false;
  for (const p of ["agent", "server"]) {
    const f = join(dir, `${p}.pid`);
    if (!existsSync(f)) continue;
    const pid = Number(readFileSync(f, "utf8").trim());
    if (pid > 0)
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        /* gone already */
      }
  }
  rmSync(dir, { recursive: true, force: true });
  return true;
}
