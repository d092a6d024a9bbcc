/**
 * The supervisor of a mesh (`nsm supervise`, started detached by `nsm up`): one process per mesh
 * that restarts any of the mesh's processes that died, with back-off, and records each new pid
 * in the state file, so `nsm down` stops exactly what runs. It only ever writes the state file
 * itself (atomically), and stops when the state file is gone or on SIGTERM (`nsm down` stops it
 * first, so nothing is restarted during teardown).
 *
 *   const sup = startSupervisor(mesh.state);          // after the mesh is complete
 *   // ... kill -9 any process of the mesh: it is back within ~0.2 s + its startup
 *   await destroyMesh(mesh.state);                     // stops the supervisor, then the rest
 *
 * Back-off per process: the first restart is immediate (one poll, `pollMs`), then 0.2, 0.4, ... up
 * to 5 s while it keeps dying within 10 s of its start; a run longer than that resets it.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import { type Logger, silentLogger } from "../tools/log.js";
import { alive, isOurs, type MeshProcState, type MeshState, readMeshState, saveState } from "./index.js";

const BIN = new URL("../../bin/nsm.mjs", import.meta.url).pathname;

export interface SuperviseOptions {
  signal: AbortSignal;
  log?: Logger;
  /** how often pids are checked (ms, default 100) */
  pollMs?: number;
  /** longest back-off (ms, default 5000) */
  maxBackoffMs?: number;
  /** a run at least this long resets the back-off (ms, default 10 000) */
  healthyMs?: number;
}

/** Starts `nsm <spec.cmd>` for `p` again in its netns (detached, output appended to its log); returns the new pid. */
export function respawn(state: MeshState, p: MeshProcState): number {
  if (!p.spec) throw new Error(`mesh: ${p.name} has no start spec`);
  const fd = openSync(p.log, "a");
  try {
    const child = spawn("nsenter", [`--net=/run/netns/${p.netns}`, "--", process.execPath, BIN, p.spec.cmd], {
      env: { ...process.env, ...state.env, ...p.spec.env },
      stdio: ["ignore", fd, fd],
      detached: true,
      ...(p.spec.gid !== undefined ? { gid: p.spec.gid } : {}),
    });
    child.on("error", () => undefined); // reported as a dead pid at the next poll
    child.unref();
    if (!child.pid) throw new Error(`mesh: cannot start ${p.name} (nsm ${p.spec.cmd})`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** Watches the mesh described by `stateFile` until `signal` ends or the file is removed. */
export async function superviseMesh(stateFile: string, o: SuperviseOptions): Promise<void> {
  const log = o.log ?? silentLogger;
  const pollMs = o.pollMs ?? 100;
  const maxBackoff = o.maxBackoffMs ?? 5000;
  const healthy = o.healthyMs ?? 10_000;
  const track = new Map<string, { pid: number; startedAt: number; failures: number; notBefore: number }>();
  while (!o.signal.aborted) {
    const state = readMeshState(stateFile);
    if (!state) {
      log.info({ stateFile }, "supervisor: the mesh is gone (no state file); exiting");
      return;
    }
    const now = Date.now();
    let changed = false;
    for (const p of state.procs) {
      if (!p.spec) continue;
      let t = track.get(p.name);
      if (!t || t.pid !== p.pid) {
        // first sight, or someone else (Mesh.restart) restarted it
        t = { pid: p.pid, startedAt: now, failures: t?.failures ?? 0, notBefore: 0 };
        track.set(p.name, t);
      }
      if (alive(p.pid) && isOurs(p.pid, "nsm.mjs")) continue;
      if (t.notBefore === 0) {
        // just found dead: restart at once unless it keeps dying young
        t.failures = now - t.startedAt >= healthy ? 0 : t.failures + 1;
        const delay = t.failures <= 1 ? 0 : Math.min(maxBackoff, 100 * 2 ** (t.failures - 1));
        t.notBefore = now + delay;
        log.warn({ name: p.name, pid: p.pid, restartInMs: delay, failures: t.failures }, "supervisor: process died");
      }
      if (now < t.notBefore) continue;
      try {
        const pid = respawn(state, p);
        log.info({ name: p.name, old: p.pid, pid, restarts: (p.restarts ?? 0) + 1 }, "supervisor: restarted");
        p.pid = pid;
        p.restarts = (p.restarts ?? 0) + 1;
        track.set(p.name, { pid, startedAt: now, failures: t.failures, notBefore: 0 });
        changed = true;
      } catch (e) {
        log.error({ name: p.name, err: (e as Error).message }, "supervisor: restart failed");
        t.notBefore = now + maxBackoff;
      }
    }
    if (changed && readMeshState(stateFile)) saveState(state);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Starts `nsm supervise` for `state` (detached) and records it in the state file. */
export function startSupervisor(state: MeshState): { pid: number; log: string } {
  const logFile = join(state.dir, "supervisor.log");
  const fd = openSync(logFile, "a");
  try {
    const child = spawn(process.execPath, [BIN, "supervise"], {
      env: { ...process.env, ...state.env, NSM_UP_STATE: state.stateFile },
      stdio: ["ignore", fd, fd],
      detached: true,
    });
    child.unref();
    if (!child.pid) throw new Error("mesh: cannot start the supervisor");
    state.supervisor = { pid: child.pid, log: logFile };
    saveState(state);
    return state.supervisor;
  } finally {
    closeSync(fd);
  }
}
