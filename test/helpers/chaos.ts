/**
 * Chaos on a mesh of real processes (shared by test/e2e/chaos.test.ts and bench/chaos.ts; root
 * only). `chaosMesh` starts a 2-node mesh (src/mesh) with one icmp-responder NSE on node 1 and
 * NSC processes on both nodes, each holding `perNsc` connections (`nsm-1`..`nsm-<k>` in its own
 * netns), then a supervisor (src/mesh/supervisor.ts) that restarts whatever dies. Every
 * connection is pinged every 50 ms by its own `ping` process; `round(victims)` SIGKILLs the
 * victims, waits for the supervisor to bring them back, lets the mesh settle and returns, per
 * connection, the longest ping gap and how long pings took to resume after the restart.
 * `invariants()` checks that no address is held twice and that no interface or process is
 * orphaned.
 *
 *   const c = await chaosMesh(t, { nscs: 4, perNsc: 5 });
 *   const r = await c.round(["forwarder-0"]);     // { gaps: [{ conn, gapMs, resumeMs }], ... }
 *   assert.deepEqual(await c.invariants(), []);
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Netns } from "../../src/datapath/index.js";
import { uniq } from "../../src/datapath/testing/index.js";
import { alive, createMesh, readMeshState, type Mesh, type MeshState } from "../../src/mesh/index.js";
import { startSupervisor } from "../../src/mesh/supervisor.js";

/** The components a round may kill (names in the mesh's state file). */
export const VICTIMS = ["registry", "nsmgr-0", "nsmgr-1", "forwarder-0", "forwarder-1", "nse"] as const;
export type Victim = (typeof VICTIMS)[number];

/** A small seeded PRNG (mulberry32): the same seed gives the same rounds. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One connection's pinger: `ping -D -i 0.05` to its NSE address, reply times kept. */
class Pinger {
  readonly replies: number[] = [];
  private proc?: ChildProcess;
  constructor(
    readonly conn: string,
    readonly netns: string,
    public peer: string,
  ) {}
  start(): void {
    const p = spawn("ip", ["netns", "exec", this.netns, "ping", "-n", "-D", "-i", "0.05", "-W", "1", this.peer], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    this.proc = p;
    let buf = "";
    p.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const m = /^\[(\d+\.\d+)\] \d+ bytes from/.exec(line);
        if (m) this.replies.push(Math.round(Number(m[1]) * 1000));
      }
    });
  }
  stop(): void {
    this.proc?.kill("SIGKILL");
    this.proc = undefined;
  }
  /** the longest time without a reply within [from, to], and the time from `after` to the first reply after the last gap that spans `after` */
  gaps(from: number, to: number, after: number): { gapMs: number; resumeMs: number } {
    const r = this.replies.filter((x) => x >= from - 1000 && x <= to);
    let gap = 0;
    let resume = 0;
    let prev = from;
    for (const x of [...r.filter((y) => y >= from), to]) {
      const g = x - prev;
      if (g > gap) gap = g;
      // the part of a gap after `after`: what the "pings again within 2 s" bound is about
      const tail = x - Math.max(prev, after);
      if (tail > resume) resume = tail;
      prev = x;
    }
    return { gapMs: gap, resumeMs: resume };
  }
}

export interface RoundResult {
  victims: string[];
  /** kill → every victim's startup line after its restart (ms) */
  restartMs: number;
  gaps: { conn: string; gapMs: number; resumeMs: number }[];
}

export interface Chaos {
  readonly mesh: Mesh;
  readonly conns: string[];
  /** SIGKILL the victims, wait for the supervisor's restarts, settle `settleMs` (default: the forwarder stale timeout + 1 s), measure */
  round(victims: readonly string[], o?: { settleMs?: number }): Promise<RoundResult>;
  /** violations: duplicate addresses, missing or orphaned interfaces, orphaned or missing processes (empty = fine) */
  invariants(): Promise<string[]>;
  /** invariants() until it is empty or `ms` passed; returns the last violations */
  settle(ms: number): Promise<string[]>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function nsmPeers(netns: string): Promise<Map<string, string>> {
  const ns = Netns.open({ name: netns });
  try {
    const out = new Map<string, string>();
    for (const r of await ns.routes({ family: 4 }))
      if (r.dev?.startsWith("nsm-") && r.dst.endsWith("/32") && !r.via) out.set(r.dev, r.dst.split("/")[0]!);
    return out;
  } finally {
    ns.close();
  }
}

async function marked(netns: string): Promise<{ name: string; alias: string; addrs: string[] }[]> {
  const ns = Netns.open({ name: netns });
  try {
    const links = (await ns.links()).filter((l) => l.attrs.alias?.startsWith("nsm:"));
    const addrs = await ns.addrs({ family: 4 });
    return links.map((l) => ({
      name: l.attrs.name,
      alias: l.attrs.alias!,
      addrs: addrs.filter((a) => a.link === l.attrs.name).map((a) => a.cidr.split("/")[0]!),
    }));
  } finally {
    ns.close();
  }
}

/** pids of the node processes (`nsm.mjs`) running in any of `netns` */
function nodesIn(netns: readonly string[]): Map<number, string> {
  const inodes = new Map<number, string>();
  for (const n of netns) {
    try {
      inodes.set(statSync(`/run/netns/${n}`).ino, n);
    } catch {
      /* gone */
    }
  }
  const out = new Map<number, string>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const link = readlinkSync(`/proc/${d}/ns/net`); // net:[4026532...]
      const ino = Number(/\[(\d+)\]/.exec(link)?.[1]);
      const ns = inodes.get(ino);
      if (!ns) continue;
      if (!readFileSync(`/proc/${d}/cmdline`, "utf8").includes("nsm.mjs")) continue;
      if (alive(Number(d))) out.set(Number(d), ns);
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

export async function chaosMesh(
  t: { after(fn: () => unknown): void } | undefined,
  o: { nscs: number; perNsc: number; staleTimeoutS?: number; logLevel?: string },
): Promise<Chaos> {
  const id = uniq();
  const stale = o.staleTimeoutS ?? 5;
  const mesh = await createMesh({
    id,
    dir: mkdtempSync(join(tmpdir(), `nsm-chaos-${id}-`)),
    nodes: 2,
    forwarderStaleTimeout: `${stale}s`,
    logLevel: o.logLevel ?? "INFO",
  });
  const pingers: Pinger[] = [];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const p of pingers) p.stop();
    await mesh.close();
  };
  t?.after(close);
  try {
    const n = o.nscs * o.perNsc;
    // a /31 per connection, from one pool
    await mesh.startNse(1, { name: "nse", cidr: `172.16.0.0/${32 - Math.ceil(Math.log2(2 * n + 2))}` });
    const services = Array.from({ length: o.perNsc }, (_, k) => `kernel://icmp-responder/nsm-${k + 1}`);
    const nscs = await Promise.all(
      Array.from({ length: o.nscs }, (_, i) => mesh.startNsc(i % 2, { name: `nsc-${i}`, services })),
    );
    // one "connected to" line per connection
    const end = Date.now() + 60_000;
    for (const c of nscs) {
      for (;;) {
        const lines = c.output().match(/connected to/g)?.length ?? 0;
        if (lines >= o.perNsc) break;
        if (Date.now() > end) throw new Error(`${c.name}: ${lines}/${o.perNsc} connections after 60 s`);
        await sleep(100);
      }
    }
    for (const c of nscs) {
      const peers = await nsmPeers(c.workload);
      for (let k = 1; k <= o.perNsc; k++) {
        const peer = peers.get(`nsm-${k}`);
        if (!peer) throw new Error(`${c.name}: no route to the NSE on nsm-${k}`);
        const p = new Pinger(`${c.name}/nsm-${k}`, c.workload, peer);
        p.start();
        pingers.push(p);
      }
    }
    // the supervisor owns the state file from here: nothing below starts processes through `mesh`
    startSupervisor(mesh.state);
  } catch (e) {
    await close();
    throw e;
  }
  const nscNetns = [...new Set(pingers.map((p) => p.netns))];
  const state = (): MeshState => readMeshState(mesh.state.stateFile) ?? mesh.state;

  /** a pinger whose peer changed (the NSE gave the connection another address) follows it */
  const follow = async () => {
    for (const ns of nscNetns) {
      const peers = await nsmPeers(ns);
      for (const p of pingers.filter((x) => x.netns === ns)) {
        const now = peers.get(p.conn.split("/")[1]!);
        if (now && now !== p.peer) {
          p.stop();
          p.peer = now;
          p.start();
        }
      }
    }
  };

  const invariants = async (): Promise<string[]> => {
    const bad: string[] = [];
    const s = state();
    // addresses: each held by one client interface only; each connection has its interface
    const owner = new Map<string, string>();
    for (const ns of nscNetns) {
      const links = await marked(ns);
      const want = pingers.filter((p) => p.netns === ns).map((p) => p.conn.split("/")[1]!);
      for (const w of want) if (!links.some((l) => l.name === w)) bad.push(`${ns}: no ${w}`);
      for (const l of links) {
        if (!want.includes(l.name)) bad.push(`${ns}: orphaned interface ${l.name} (${l.alias})`);
        for (const a of l.addrs) {
          const o2 = owner.get(a);
          if (o2) bad.push(`address ${a} held by ${o2} and ${ns}/${l.name}`);
          owner.set(a, `${ns}/${l.name}`);
        }
      }
    }
    // the NSE side: one interface per connection, each named by a live connection's alias
    const nse = s.procs.find((p) => p.name === "nse")!;
    const nseLinks = await marked(nse.netns);
    if (nseLinks.length !== pingers.length)
      bad.push(`NSE netns has ${nseLinks.length} interfaces for ${pingers.length} connections`);
    // nothing in the node namespaces (the kernel datapath makes its interfaces in the workloads)
    for (const n of s.nodes) {
      const left = await marked(n.netns);
      if (left.length) bad.push(`${n.netns}: interfaces left: ${left.map((l) => l.name).join(", ")}`);
    }
    // processes: exactly the state file's, all alive
    const running = nodesIn(s.netns);
    for (const p of s.procs) if (!running.has(p.pid)) bad.push(`${p.name} (pid ${p.pid}) is not running`);
    const known = new Set(s.procs.map((p) => p.pid));
    for (const [pid, ns] of running) if (!known.has(pid)) bad.push(`orphaned process ${pid} in ${ns}`);
    return bad;
  };

  return {
    mesh,
    conns: pingers.map((p) => p.conn),
    invariants,
    async settle(ms) {
      const end = Date.now() + ms;
      for (;;) {
        await follow();
        const bad = await invariants();
        if (!bad.length || Date.now() > end) return bad;
        await sleep(200);
      }
    },
    async round(victims, r = {}) {
      const before = state();
      const old = new Map(victims.map((v) => [v, before.procs.find((p) => p.name === v)!]));
      const offsets = new Map(
        victims.map((v) => {
          try {
            return [v, readFileSync(old.get(v)!.log, "utf8").length];
          } catch {
            return [v, 0];
          }
        }),
      );
      const t0 = Date.now();
      for (const v of victims) process.kill(old.get(v)!.pid, "SIGKILL");
      // back: a new pid in the state file and its startup line in the log after the kill
      const end = t0 + 30_000;
      for (;;) {
        const s = state();
        const back = victims.every((v) => {
          const p = s.procs.find((x) => x.name === v)!;
          if (p.pid === old.get(v)!.pid || !alive(p.pid)) return false;
          try {
            return /Startup completed/.test(readFileSync(p.log, "utf8").slice(offsets.get(v)));
          } catch {
            return false;
          }
        });
        if (back) break;
        if (Date.now() > end) throw new Error(`${victims.join("+")} not restarted within 30 s`);
        await sleep(50);
      }
      const t1 = Date.now();
      await sleep(r.settleMs ?? (stale + 1) * 1000);
      await follow();
      await sleep(300); // a moved pinger's first replies
      const t2 = Date.now();
      return {
        victims: [...victims],
        restartMs: t1 - t0,
        gaps: pingers.map((p) => ({ conn: p.conn, ...p.gaps(t0, t2, t1) })),
      };
    },
    close,
  };
}
