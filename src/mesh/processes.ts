/** Starting and stopping the mesh's processes (see index.ts). */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, saveState, type MeshProcState, type MeshState, type MeshOptions, type MeshProc } from "./state.js";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function ipNetns(...args: string[]): void {
  execFileSync("ip", ["netns", ...args], { stdio: ["ignore", "ignore", "pipe"] });
}

/** The process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** `pid`'s command line contains `what` (a pid reused by another program is not ours). */
export function isOurs(pid: number, what: string): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmd.includes(what);
  } catch {
    return false;
  }
}

export async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await sleep(20);
  }
  return !alive(pid);
}

export const meshEnv = (o: MeshOptions): Record<string, string> => ({ NSM_LOG_LEVEL: o.logLevel ?? "INFO", ...o.env });

export function spawnIn(
  state: MeshState,
  o: MeshOptions,
  p: { name: string; role: string; node?: number; netns: string; cmd: string; env: Record<string, string> },
  children: Map<number, ChildProcess>,
): MeshProc {
  const log = join(state.dir, `${p.name}.log`);
  // per-process environment (nsm up with NSM_UP_TLS: each process its own SVID files), kept in
  // the start spec so the supervisor's restarts get it too
  const env = { ...p.env, ...o.envFor?.(p.name) };
  const gid = o.gidFor?.(p.name);
  const fd = openSync(log, "a");
  let child: ChildProcess;
  try {
    child = spawn("nsenter", [`--net=/run/netns/${p.netns}`, "--", process.execPath, BIN, p.cmd], {
      env: { ...process.env, ...meshEnv(o), ...env },
      stdio: ["ignore", fd, fd],
      detached: o.detached ?? false,
      ...(gid !== undefined ? { gid } : {}),
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (!pid) throw new Error(`mesh: cannot start ${p.name} (nsm ${p.cmd})`);
  let exited = false;
  child.once("exit", () => {
    exited = true;
    children.delete(pid);
  });
  if (o.detached) child.unref();
  else children.set(pid, child);
  const entry: MeshProcState = {
    name: p.name,
    role: p.role,
    ...(p.node !== undefined ? { node: p.node } : {}),
    pid,
    log,
    netns: p.netns,
    spec: { cmd: p.cmd, env, ...(gid !== undefined ? { gid } : {}) },
  };
  // a restart replaces the entry: the state names each process once, with its current pid
  const at = state.procs.findIndex((x) => x.name === p.name);
  if (at >= 0) state.procs[at] = { ...entry, restarts: (state.procs[at]!.restarts ?? 0) + 1 };
  else state.procs.push(entry);
  saveState(state);
  const output = () => {
    try {
      return readFileSync(log, "utf8");
    } catch {
      return "";
    }
  };
  const proc: MeshProc = {
    name: p.name,
    pid,
    netns: p.netns,
    log,
    get exited() {
      return exited || (o.detached === true && !alive(pid));
    },
    output,
    async waitFor(re, ms = 20_000, from = 0) {
      const end = Date.now() + ms;
      for (;;) {
        const hit = output()
          .slice(from)
          .split("\n")
          .find((l) => re.test(l));
        if (hit) return hit;
        if (proc.exited) throw new Error(`mesh: ${p.name} exited before logging ${re}:\n${output().slice(-3000)}`);
        if (Date.now() > end)
          throw new Error(`mesh: ${p.name} logged no line matching ${re} in ${ms} ms:\n${output().slice(-3000)}`);
        await sleep(25);
      }
    },
    async stop(sig = "SIGTERM") {
      if (proc.exited) return;
      try {
        process.kill(pid, sig);
      } catch {
        return;
      }
      if (!(await waitGone(pid, 5000))) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* gone */
        }
        await waitGone(pid, 2000);
      }
    },
  };
  return proc;
}
