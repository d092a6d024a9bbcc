/**
 * A local mesh in network namespaces, with real `nsm` processes: a fabric netns with a bridge,
 * N node namespaces joined to it by veth (198.18.0.<i+1>/24, the benchmarking range: traffic
 * never leaves these namespaces), a registry on the bridge (198.18.0.254:5002), and per node an
 * `nsm nsmgr` (unix socket + tcp on the node address) and an `nsm forwarder` (kernel datapath)
 * started inside the node netns. Endpoints and clients run in workload namespaces of their own.
 * Used by `nsm up` and by the e2e tests; everything made is written to a state file as it is made,
 * so `destroyMesh(state)` (or `nsm down`) removes it even after a crash.
 *
 *   const mesh = await createMesh({ id: "t-42-0", dir: "/tmp/x", nodes: 2 });
 *   const nse = await mesh.startNse(1, { name: "nse-1", cidr: "172.16.1.100/31" });
 *   const nsc = await mesh.startNsc(0, { name: "nsc", services: ["kernel://icmp-responder/nsm-1"] });
 *   await nsc.waitFor(/connected to/);
 *   await mesh.close();
 *
 * Namespaces are made with `ip netns add` (setup tooling, not the datapath: a named netns needs
 * unshare + a bind mount, which node cannot do on a worker thread). Root only.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { unixSocketLive } from "../core/grpc.js";
import { Netns } from "../datapath/netns.js";
import { removeLeftInterfaces } from "./leftovers.js";
import { packagePath } from "../tools/pkg.js";

export const FABRIC_PREFIX = "198.18.0";
export const REGISTRY_PORT = 5002;
export const NSMGR_PORT = 5001;
const BIN = packagePath("bin", "nsm.mjs");
const OVS_SH = packagePath("scripts", "ovs.sh");

export interface MeshProcState {
  name: string;
  role: string;
  node?: number;
  pid: number;
  log: string;
  netns: string;
  /** how to start it again (the supervisor and `Mesh.restart` use it): `nsm <cmd>` with this env on top of the mesh's */
  spec?: { cmd: string; env: Record<string, string> };
  /** times it was restarted (by the supervisor or `Mesh.restart`) */
  restarts?: number;
}

/** Everything a mesh made; enough to remove it from another process (`nsm down`). */
export interface MeshState {
  id: string;
  dir: string;
  stateFile: string;
  fabric: string;
  netns: string[];
  procs: MeshProcState[];
  /** sockets outside `dir` we created (e.g. the default nsmgr socket) */
  files: string[];
  nodes: { netns: string; ip: string; nsmgrUrl: string; nsmgrSock: string; forwarderStateDir: string }[];
  registryUrl: string;
  /** private Open vSwitch instances (scripts/ovs.sh dirs) of an ovs-datapath mesh */
  ovsDirs?: string[];
  /** environment every process gets on top of the starter's (log level, MeshOptions.env) */
  env?: Record<string, string>;
  /** the supervisor (`nsm supervise`) of a detached mesh; `nsm down` stops it first */
  supervisor?: { pid: number; log: string };
}

export interface MeshOptions {
  /** name prefix of every netns and link (≤ 9 chars keeps link names ≤ 15); tests use `t-<pid>-<n>` */
  id: string;
  /** where sockets, logs and forwarder state go (created; removed by close) */
  dir: string;
  /** state file (default `<dir>/mesh.json`) */
  stateFile?: string;
  nodes?: number;
  /** extra listen URLs for node i's nsmgr (nsm up: the default socket on node 0) */
  nsmgrExtraListen?: (node: number) => string[];
  /** NSM_LOG_LEVEL of every process (default INFO) */
  logLevel?: string;
  /** extra environment for every process */
  env?: Record<string, string>;
  /** called as each startup step begins (`nsm up` prints them) */
  progress?: (step: string) => void;
  /** detach processes (new session, not children we wait for): `nsm up` */
  detached?: boolean;
  /** forwarder NSM_STALE_TIMEOUT (default 30s) */
  forwarderStaleTimeout?: string;
  /** the forwarders' NSM_DATAPATH (default kernel); ovs: a private OVS per node (vswitchd in the node netns, eth0 attached to its bridge) */
  datapath?: "kernel" | "ovs";
}

export interface MeshProc {
  readonly name: string;
  readonly pid: number;
  readonly netns: string;
  readonly log: string;
  /** the log so far */
  output(): string;
  /** resolves with the first log line matching `re` (polls the log file); rejects if the process exits first or after `ms` */
  waitFor(re: RegExp, ms?: number, from?: number): Promise<string>;
  /** SIGTERM (or `sig`) and wait for the exit (SIGKILL after 5 s) */
  stop(sig?: NodeJS.Signals): Promise<void>;
  readonly exited: boolean;
}

export interface Mesh {
  readonly state: MeshState;
  readonly procs: Map<string, MeshProc>;
  /** a fresh workload netns (named `<id>-w<n>`) */
  workloadNetns(): Promise<string>;
  /** `nsm nse-icmp-responder` in a new workload netns on `node` */
  startNse(
    node: number,
    o: {
      name: string;
      cidr: string;
      services?: string[];
      labels?: string;
      payload?: string;
      env?: Record<string, string>;
    },
  ): Promise<MeshProc & { workload: string }>;
  /** `nsm nsc` in a new (or the given) workload netns on `node`; resolves when it started (not connected: waitFor(/connected to/)) */
  startNsc(
    node: number,
    o: { name: string; services: string[]; netns?: string; env?: Record<string, string> },
  ): Promise<MeshProc & { workload: string }>;
  /** (re)starts node i's forwarder (after a kill) */
  startForwarder(node: number): Promise<MeshProc>;
  /** (re)starts node i's nsmgr (after a kill), same sockets and name */
  startNsmgr(node: number): Promise<MeshProc>;
  /**
   * Starts process `name` again as it was started (same netns, command and environment, `env` on
   * top), replacing its entry in the state file; waits for its startup line, except for an NSC.
   * The caller kills it first (`procs.get(name).stop("SIGKILL")`).
   */
  restart(name: string, o?: { env?: Record<string, string>; waitMs?: number }): Promise<MeshProc>;
  /** stops every process and removes every namespace, link, socket and file; reports every failure */
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ipNetns(...args: string[]): void {
  execFileSync("ip", ["netns", ...args], { stdio: ["ignore", "ignore", "pipe"] });
}

/** Writes the state file atomically (write + rename): a reader never sees half of it. */
export function saveState(s: MeshState): void {
  const tmp = `${s.stateFile}.tmp`;
  writeFileSync(tmp, JSON.stringify(s, null, 2));
  renameSync(tmp, s.stateFile);
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

const meshEnv = (o: MeshOptions): Record<string, string> => ({ NSM_LOG_LEVEL: o.logLevel ?? "INFO", ...o.env });

function spawnIn(
  state: MeshState,
  o: MeshOptions,
  p: { name: string; role: string; node?: number; netns: string; cmd: string; env: Record<string, string> },
  children: Map<number, ChildProcess>,
): MeshProc {
  const log = join(state.dir, `${p.name}.log`);
  const fd = openSync(log, "a");
  let child: ChildProcess;
  try {
    child = spawn("nsenter", [`--net=/run/netns/${p.netns}`, "--", process.execPath, BIN, p.cmd], {
      env: { ...process.env, ...meshEnv(o), ...p.env },
      stdio: ["ignore", fd, fd],
      detached: o.detached ?? false,
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
    spec: { cmd: p.cmd, env: p.env },
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
  for (const ns of [...state.netns].reverse()) {
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
  if (errors.length) throw new Error(`mesh ${state.id}: teardown: ${errors.join("; ")}`);
  return result;
}

export async function createMesh(o: MeshOptions): Promise<Mesh> {
  const nodes = o.nodes ?? 2;
  mkdirSync(o.dir, { recursive: true });
  const state: MeshState = {
    id: o.id,
    dir: o.dir,
    stateFile: o.stateFile ?? join(o.dir, "mesh.json"),
    fabric: `${o.id}-fab`,
    netns: [],
    procs: [],
    files: [],
    nodes: [],
    registryUrl: `tcp://${FABRIC_PREFIX}.254:${REGISTRY_PORT}`,
    env: meshEnv(o),
  };
  saveState(state);
  const children = new Map<number, ChildProcess>();
  const procs = new Map<string, MeshProc>();
  let w = 0;
  const addNetns = (name: string) => {
    state.netns.push(name);
    saveState(state);
    ipNetns("add", name);
  };
  const start = (p: Parameters<typeof spawnIn>[2]) => {
    const pr = spawnIn(state, o, p, children);
    procs.set(p.name, pr);
    return pr;
  };
  const nodeEnv = (i: number) => ({ NSM_CONNECT_TO: `unix://${state.nodes[i]!.nsmgrSock}` });

  const close = async () => {
    await destroyMesh(state);
    for (const c of children.values()) c.kill("SIGKILL");
  };

  const spawnNsmgr = (i: number) => {
    const n = state.nodes[i]!;
    return start({
      name: `nsmgr-${i}`,
      role: "nsmgr",
      node: i,
      netns: n.netns,
      cmd: "nsmgr",
      env: {
        NSM_NAME: `nsmgr-${i}`,
        NSM_LISTEN_ON: [`unix://${n.nsmgrSock}`, n.nsmgrUrl, ...(o.nsmgrExtraListen?.(i) ?? [])].join(","),
        NSM_REGISTRY_URL: state.registryUrl,
      },
    });
  };

  const startForwarder = async (i: number) => {
    const n = state.nodes[i]!;
    const f = start({
      name: `forwarder-${i}`,
      role: "forwarder",
      node: i,
      netns: n.netns,
      cmd: "forwarder",
      env: {
        ...nodeEnv(i),
        NSM_NAME: `forwarder-${i}`,
        NSM_LISTEN_ON: `unix://${join(o.dir, `forwarder-${i}.sock`)}`,
        NSM_DATAPATH: o.datapath ?? "kernel",
        ...(o.datapath === "ovs"
          ? {
              NSM_OVS_DB: `unix:${join(o.dir, `ovs-${i}`, "db.sock")}`,
              OVS_RUNDIR: join(o.dir, `ovs-${i}`),
              NSM_OVS_UPLINK: "eth0",
            }
          : {}),
        NSM_TUNNEL_IP: n.ip,
        NSM_STATE_DIR: n.forwarderStateDir,
        NSM_STALE_TIMEOUT: o.forwarderStaleTimeout ?? "30s",
      },
    });
    const from = f.output().length;
    await f.waitFor(/Startup completed/, 20_000, from);
    return f;
  };

  try {
    // fabric: a bridge with the registry's address; one veth per node, the node end born in the node netns
    o.progress?.(`namespaces: fabric ${state.fabric} and ${nodes} node(s), joined by veth pairs to a bridge`);
    addNetns(state.fabric);
    const fab = Netns.open({ name: state.fabric });
    try {
      await fab
        .batch()
        .linkSetUp("lo")
        .linkAdd({ kind: "bridge", attrs: { name: "br0", up: true } })
        .addrAdd({ link: "br0", cidr: `${FABRIC_PREFIX}.254/24` })
        .commit();
      for (let i = 0; i < nodes; i++) {
        const netns = `${o.id}-n${i}`;
        addNetns(netns);
        const ip = `${FABRIC_PREFIX}.${i + 1}`;
        const ns = Netns.open({ name: netns });
        try {
          await fab
            .batch()
            .linkAdd({
              kind: "veth",
              attrs: { name: `n${i}`, up: true, master: "br0" },
              peer: { name: "eth0", netns: ns, up: true },
            })
            .commit();
          await ns
            .batch()
            .linkSetUp("lo")
            .addrAdd({ link: "eth0", cidr: `${ip}/24` })
            .commit();
        } finally {
          ns.close();
        }
        state.nodes.push({
          netns,
          ip,
          nsmgrUrl: `tcp://${ip}:${NSMGR_PORT}`,
          nsmgrSock: join(o.dir, `nsmgr-${i}.sock`),
          forwarderStateDir: join(o.dir, `forwarder-${i}-state`),
        });
      }
    } finally {
      fab.close();
    }
    saveState(state);

    o.progress?.(`registry on ${state.registryUrl}`);
    const reg = start({
      name: "registry",
      role: "registry",
      netns: state.fabric,
      cmd: "registry",
      env: { NSM_LISTEN_ON: `tcp://${FABRIC_PREFIX}.254:${REGISTRY_PORT}`, NSM_EXPIRE_PERIOD: "1m" },
    });
    await reg.waitFor(/Startup completed/);
    o.progress?.(`nsmgr on each node (${state.nodes.map((n) => n.nsmgrUrl).join(", ")})`);
    const mgrs = state.nodes.map((n, i) => {
      for (const u of o.nsmgrExtraListen?.(i) ?? [])
        if (u.startsWith("unix://")) {
          state.files.push(u.slice("unix://".length));
        }
      return spawnNsmgr(i);
    });
    saveState(state);
    await Promise.all(mgrs.map((m) => m.waitFor(/Startup completed/)));
    if (o.datapath === "ovs") {
      for (const [i, n] of state.nodes.entries()) {
        const d = join(o.dir, `ovs-${i}`);
        (state.ovsDirs ??= []).push(d);
        saveState(state);
        execFileSync(OVS_SH, ["start", d, n.netns], { stdio: ["ignore", "ignore", "pipe"] });
      }
    }
    o.progress?.(`forwarder on each node (${o.datapath ?? "kernel"} datapath)`);
    await Promise.all(state.nodes.map((_, i) => startForwarder(i)));
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }

  const workloadNetns = async () => {
    const name = `${o.id}-w${w++}`;
    addNetns(name);
    const ns = Netns.open({ name });
    try {
      await ns.linkSet("lo", { up: true });
    } finally {
      ns.close();
    }
    return name;
  };

  const restart = async (name: string, r: { env?: Record<string, string>; waitMs?: number } = {}) => {
    const was = state.procs.find((x) => x.name === name);
    if (!was?.spec) throw new Error(`mesh: no process named ${name}`);
    const p = start({
      name,
      role: was.role,
      ...(was.node !== undefined ? { node: was.node } : {}),
      netns: was.netns,
      cmd: was.spec.cmd,
      env: { ...was.spec.env, ...r.env },
    });
    if (was.role !== "nsc") await p.waitFor(/Startup completed/, r.waitMs ?? 20_000, p.output().length);
    return p;
  };

  return {
    state,
    procs,
    workloadNetns,
    close,
    startForwarder,
    async startNsmgr(i) {
      return restart(`nsmgr-${i}`);
    },
    restart,
    async startNse(node, e) {
      const workload = await workloadNetns();
      const p = start({
        name: e.name,
        role: "nse",
        node,
        netns: workload,
        cmd: "nse-icmp-responder",
        env: {
          ...nodeEnv(node),
          NSM_NAME: e.name,
          NSM_CIDR_PREFIX: e.cidr,
          NSM_SERVICE_NAMES: (e.services ?? ["icmp-responder"]).join(","),
          NSM_LISTEN_ON: `unix://${join(o.dir, `${e.name}.sock`)}`,
          ...(e.labels ? { NSM_LABELS: e.labels } : {}),
          ...(e.payload ? { NSM_PAYLOAD: e.payload } : {}),
          ...e.env,
        },
      });
      await p.waitFor(/Startup completed/);
      return Object.assign(p, { workload });
    },
    async startNsc(node, c) {
      const workload = c.netns ?? (await workloadNetns());
      const p = start({
        name: c.name,
        role: "nsc",
        node,
        netns: workload,
        cmd: "nsc",
        env: {
          ...nodeEnv(node),
          NSM_NAME: c.name,
          NSM_NETWORK_SERVICES: c.services.join(","),
          NSM_LOCAL_DNS_SERVER_ENABLED: "false",
          NSM_LIVENESS_CHECK_ENABLED: "false",
          ...c.env,
        },
      });
      return Object.assign(p, { workload });
    },
  };
}

/** Reads a mesh state file (for `nsm down`); undefined when there is none. */
export function readMeshState(file: string): MeshState | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as MeshState;
  } catch {
    return undefined;
  }
}
