/** Removing a mesh: its processes, namespaces and fabric (see index.ts). */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { unixSocketLive } from "../core/grpc.js";
import { removeLeftInterfaces } from "./leftovers.js";
import { OVS_SH, readMeshState, type MeshProcState, type MeshState } from "./state.js";
import { ipNetns, alive, isOurs, waitGone } from "./processes.js";

/** What `destroyMesh` found: processes it stopped, and those that were already gone (crashed, killed). */
export interface MeshTeardown {
  stopped: string[];
  gone: string[];
  /** interfaces of ours left in namespaces outside the mesh (an NSC's Close did not get through), removed */
  interfaces: string[];
}

/**
 * Removes what `state` lists: the supervisor first (so nothing is restarted behind our back),
 * then processes (NSCs first, so they close their connections), wireguard-go left by
 * forwarders, namespaces, files. The state file is read again after the supervisor stopped: it
 * holds the pids of the processes the supervisor restarted. Throws listing every failure.
 */
export async function destroyMesh(given: MeshState): Promise<MeshTeardown> {
  const errors: string[] = [];
  const result: MeshTeardown = { stopped: [], gone: [], interfaces: [] };
  const sup = readMeshState(given.stateFile)?.supervisor ?? given.supervisor;
  if (sup && alive(sup.pid) && isOurs(sup.pid, "supervise")) {
    try {
      process.kill(sup.pid, "SIGTERM");
    } catch {
      /* gone */
    }
    if (!(await waitGone(sup.pid, 5000))) {
      try {
        process.kill(sup.pid, "SIGKILL");
      } catch {
        /* gone */
      }
      await waitGone(sup.pid, 2000);
    }
  }
  const state = readMeshState(given.stateFile) ?? given;
  // the other domains first (their clients and proxies may talk to ours), then what joined them
  for (const f of state.linked?.states ?? []) {
    const other = readMeshState(f);
    if (!other) continue;
    try {
      const r = await destroyMesh(other);
      result.stopped.push(...r.stopped);
      result.gone.push(...r.gone);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  const dm = state.linked?.dnsmasq;
  if (dm && alive(dm.pid) && isOurs(dm.pid, "dnsmasq")) {
    process.kill(dm.pid, "SIGTERM");
    if (await waitGone(dm.pid, 3000)) result.stopped.push("dnsmasq");
    else errors.push(`dnsmasq (pid ${dm.pid}) does not exit`);
  }
  const stop = async (pr: MeshProcState) => {
    if (!alive(pr.pid) || !isOurs(pr.pid, "nsm.mjs")) {
      result.gone.push(pr.name);
      return;
    }
    try {
      process.kill(pr.pid, "SIGTERM");
    } catch {
      result.gone.push(pr.name);
      return;
    }
    if (!(await waitGone(pr.pid, 5000))) {
      try {
        process.kill(pr.pid, "SIGKILL");
      } catch {
        /* gone */
      }
      if (!(await waitGone(pr.pid, 2000))) {
        errors.push(`${pr.name} (pid ${pr.pid}) does not exit`);
        return;
      }
    }
    result.stopped.push(pr.name);
  };
  const order = ["nsc", "nse", "forwarder", "nsmgr", "registry"];
  for (const role of order) await Promise.all(state.procs.filter((p) => p.role === role).map(stop));
  await Promise.all(state.procs.filter((p) => !order.includes(p.role)).map(stop));
  // wireguard-go processes a killed forwarder left behind (its records name them)
  for (const n of state.nodes) {
    let files: string[] = [];
    try {
      files = readdirSync(n.forwarderStateDir);
    } catch {
      continue;
    }
    for (const f of files) {
      try {
        const r = JSON.parse(readFileSync(join(n.forwarderStateDir, f), "utf8")) as {
          wg?: { pid?: number; dev: string };
        };
        if (r.wg?.pid && isOurs(r.wg.pid, r.wg.dev)) process.kill(r.wg.pid, "SIGTERM");
      } catch {
        /* ignore */
      }
    }
  }
  const own = new Set(state.netns.flatMap((n) => [n, `/run/netns/${n}`]));
  result.interfaces = await removeLeftInterfaces(
    state.nodes.map((n) => n.forwarderStateDir),
    own,
  );
  for (const d of state.ovsDirs ?? []) {
    try {
      execFileSync(OVS_SH, ["stop", d], { stdio: ["ignore", "ignore", "pipe"] });
    } catch (e) {
      errors.push(`ovs ${d}: ${(e as { stderr?: Buffer }).stderr?.toString().trim() ?? (e as Error).message}`);
    }
  }
  for (const ns of [...state.netns, ...(state.linked?.netns ?? [])].reverse()) {
    // a workload's resolv.conf (an nsc's DNS proxy writes /etc/netns/<ns>/resolv.conf) goes with its netns
    rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    if (!existsSync(`/run/netns/${ns}`)) continue;
    try {
      ipNetns("del", ns);
    } catch (e) {
      errors.push(`netns ${ns}: ${(e as { stderr?: Buffer }).stderr?.toString().trim() ?? (e as Error).message}`);
    }
  }
  // our processes are gone by now: a socket something still answers on belongs to someone else
  for (const f of state.files) {
    if (await unixSocketLive(f)) errors.push(`${f}: left alone, another server listens on it`);
    else rmSync(f, { force: true });
  }
  try {
    rmSync(state.dir, { recursive: true, force: true });
  } catch (e) {
    errors.push(`${state.dir}: ${(e as Error).message}`);
  }
  rmSync(state.stateFile, { force: true });
  if (state.linked?.dir) rmSync(state.linked.dir, { recursive: true, force: true });
  if (errors.length) throw new Error(`mesh ${state.id}: teardown: ${errors.join("; ")}`);
  return result;
}
