/**
 * Shared bench helpers: timing, percentiles, and the result file every benchmark writes —
 * bench/results/<name>.json in the ARCHITECTURE.md format plus an SVG bar chart beside it.
 *
 *   const r = await measure(200, () => doOne());           // per-iteration ms
 *   await writeResults("registry", { unit: "ops/s", higherIsBetter: true, results: [
 *     { case: "memory/register", ours: 8000, baseline: 6000 } ] });
 */
import { execSync, spawn, type ChildProcess } from "node:child_process";
import { setMaxListeners } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, cpus, tmpdir } from "node:os";
import { join } from "node:path";
import type { Connection } from "../src/api/index.js";
import { dial, newCtx } from "../src/core/index.js";
import { createClient, createEndpoint, createForwarder, type NscHandle } from "../src/networkservice/components.js";
import { parseNsUrl, requestFromNsUrl } from "../src/networkservice/utils/nsurl.js";

export const RESULTS_DIR = new URL("./results/", import.meta.url).pathname;

export interface CaseResult {
  case: string;
  ours: number;
  baseline?: number | null;
  ratio?: number | null;
  note?: string;
}
export interface BenchReport {
  name: string;
  unit: string;
  higherIsBetter: boolean;
  results: CaseResult[];
  env: Record<string, unknown>;
}

export function percentile(values: readonly number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}
export const median = (v: readonly number[]) => percentile(v, 50);

/** Runs `fn` `n` times sequentially after `warmup` runs; returns each run's duration in ms. */
export async function measure(n: number, fn: (i: number) => unknown, warmup = Math.min(10, n)): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn(i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn(i);
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return out;
}

/** A monotonic clock in ms. */
export const now = () => Number(process.hrtime.bigint()) / 1e6;

/** Times one call of `fn` (ms) into `into` and returns what it returned. */
export async function timed<T>(fn: () => Promise<T>, into: number[]): Promise<T> {
  const t = now();
  const r = await fn();
  into.push(now() - t);
  return r;
}

/** Runs fn(0..n-1) with at most `concurrency` calls in flight. */
export async function pool(n: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** user+system CPU time of a process in ms, from /proc/<pid>/stat (clock ticks, 100 Hz). */
export function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime are fields 14, 15
}
/** CPU ms used by this process since `from` (process.cpuUsage, µs resolution). */
export function selfCpuMs(from?: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1000;
}

/** Resident memory of a process in MiB (NaN when /proc does not say). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The in-process control plane of bench/controlplane and bench/scale (see {@link startControlPlane}). */
export interface ControlPlane {
  readonly dir: string;
  readonly nsmgrUrl: string;
  /** the `nsm nsmgr` process */
  readonly child: ChildProcess;
  /** the options every component here is made with */
  readonly common: { signal: AbortSignal; dialTimeoutMs: number };
  /** the NSC `nsc` (no heal) */
  readonly nsc: NscHandle;
  /** a new connection (kernel://icmp/nsm-1, id `c-<n>`) */
  request(): Promise<Connection>;
  close(c: Connection): Promise<unknown>;
  /** runs at `stop()`, last deferred first */
  defer(fn: () => unknown): void;
  /** closes what was deferred, the components, then nsmgr; removes the temp dir */
  stop(): Promise<void>;
}

/**
 * nsmgr as its own process (`nsm nsmgr`, memory registry, unix sockets in a temp dir: its RSS is
 * its own), then in this process a forwarder `fwd` (null datapath), an NSE `nse` for "icmp"
 * (10.0.0.0/8) and an NSC; each Request and Close has `deadlineMs`. NSM_BENCH_NSMGR_ARGS: extra
 * node flags for nsmgr, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" or "--heapsnapshot-signal=SIGUSR2".
 *
 *   const cp = await startControlPlane("nsm-bench-cp-", 15_000);
 *   try { await cp.close(await cp.request()); } finally { await cp.stop(); }
 */
export async function startControlPlane(prefix: string, deadlineMs: number): Promise<ControlPlane> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const nsmgrUrl = `unix://${join(dir, "nsm.sock")}`;
  const life = new AbortController();
  setMaxListeners(0, life.signal); // every component and watch hangs on it
  const nodeArgs = process.env.NSM_BENCH_NSMGR_ARGS?.split(" ").filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, new URL("../bin/nsm.mjs", import.meta.url).pathname, "nsmgr"], {
    env: { ...process.env, NSM_LISTEN_ON: nsmgrUrl, NSM_REGISTRY_URL: "", NSM_LOG_LEVEL: "WARN" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const cleanups: (() => unknown)[] = [];
  const stop = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        /* reported by the component */
      }
    }
    life.abort();
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    let log = "";
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on("data", (d: Buffer) => {
        log = (log + d.toString()).slice(-4000);
      });
      child.once("exit", (code) => reject(new Error(`nsm nsmgr exited (${code}): ${log}`)));
      const probe = dial(nsmgrUrl);
      probe.waitReady(15_000).then(() => {
        probe.close();
        resolve();
      }, reject);
    });
    const common = { signal: life.signal, dialTimeoutMs: 2000 };
    const fwd = await createForwarder({
      ...common,
      name: "fwd",
      listenOn: [`unix://${join(dir, "fwd.sock")}`],
      nsmgrUrl,
    });
    cleanups.push(() => fwd.close());
    const nse = await createEndpoint({
      ...common,
      name: "nse",
      listenOn: [`unix://${join(dir, "nse.sock")}`],
      nsmgrUrl,
      services: ["icmp"],
      cidrs: ["10.0.0.0/8"],
    });
    cleanups.push(() => nse.close());
    const nsc = await createClient({ ...common, name: "nsc", nsmgrUrl, heal: false });
    cleanups.push(() => nsc.close());
    const u = parseNsUrl("kernel://icmp/nsm-1");
    let n = 0;
    return {
      dir,
      nsmgrUrl,
      child,
      common,
      nsc,
      request: () => nsc.client.request(requestFromNsUrl(u, `c-${n++}`), newCtx({ deadline: Date.now() + deadlineMs })),
      close: (c) => nsc.client.close(c, newCtx({ deadline: Date.now() + deadlineMs })),
      defer: (fn) => void cleanups.push(fn),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

function envBlock(): Record<string, unknown> {
  let commit = "unknown";
  try {
    commit = execSync("git rev-parse --short HEAD", { stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
  } catch {
    /* not a checkout */
  }
  return {
    commit,
    node: process.version,
    host: hostname(),
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    date: new Date().toISOString(),
  };
}

/** ratio > 1 means ours beats the baseline, whichever direction is better. */
export function ratioOf(c: CaseResult, higherIsBetter: boolean): number | null {
  if (c.baseline === undefined || c.baseline === null || !c.ours || !c.baseline) return null;
  return higherIsBetter ? c.ours / c.baseline : c.baseline / c.ours;
}

/** Writes results/<name>.json and results/<name>.svg and prints a table; returns the report. */
export function writeResults(
  name: string,
  r: { unit: string; higherIsBetter: boolean; results: CaseResult[] },
): BenchReport {
  const results = r.results.map((c) => ({
    ...c,
    baseline: c.baseline ?? null,
    ratio: c.ratio ?? ratioOf(c, r.higherIsBetter),
  }));
  const report: BenchReport = { name, unit: r.unit, higherIsBetter: r.higherIsBetter, results, env: envBlock() };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${name}.json`), JSON.stringify(report, null, 2) + "\n");
  writeFileSync(join(RESULTS_DIR, `${name}.svg`), svgChart(report));
  printTable(report);
  return report;
}

export function printTable(r: BenchReport): void {
  const fmt = (v: number | null | undefined) =>
    v === null || v === undefined || Number.isNaN(v)
      ? "-"
      : v >= 100
        ? v.toFixed(0)
        : v >= 1
          ? v.toFixed(2)
          : v.toPrecision(3);
  const w = Math.max(4, ...r.results.map((c) => c.case.length));
  console.log(`\n${r.name} (${r.unit}, ${r.higherIsBetter ? "higher" : "lower"} is better)`);
  console.log(`${"case".padEnd(w)}  ${"ours".padStart(10)}  ${"baseline".padStart(10)}  ${"ratio".padStart(6)}`);
  for (const c of r.results)
    console.log(
      `${c.case.padEnd(w)}  ${fmt(c.ours).padStart(10)}  ${fmt(c.baseline).padStart(10)}  ${fmt(c.ratio).padStart(6)}${c.note ? `  ${c.note}` : ""}`,
    );
}

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]!);

/** A horizontal grouped bar chart: ours vs baseline per case, each case scaled to its own max. */
export function svgChart(r: BenchReport): string {
  const rowH = 34,
    left = 260,
    barW = 380,
    top = 40;
  const h = top + r.results.length * rowH + 30;
  const rows = r.results
    .map((c, i) => {
      const y = top + i * rowH;
      const max = Math.max(c.ours || 0, c.baseline || 0) || 1;
      const ow = ((c.ours || 0) / max) * barW,
        bw = ((c.baseline || 0) / max) * barW;
      const ratio = c.ratio ? ` ×${c.ratio.toFixed(2)}` : "";
      return [
        `<text x="${left - 8}" y="${y + 14}" text-anchor="end" font-size="12">${esc(c.case)}</text>`,
        `<rect x="${left}" y="${y}" width="${ow.toFixed(1)}" height="12" fill="#2b7bb9"/>`,
        `<text x="${left + ow + 4}" y="${y + 10}" font-size="10">${(c.ours ?? 0).toPrecision(4)}${esc(ratio)}</text>`,
        c.baseline ? `<rect x="${left}" y="${y + 14}" width="${bw.toFixed(1)}" height="12" fill="#bbbbbb"/>` : "",
        c.baseline ? `<text x="${left + bw + 4}" y="${y + 24}" font-size="10">${c.baseline.toPrecision(4)}</text>` : "",
      ].join("");
    })
    .join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${left + barW + 120}" height="${h}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" font-size="14" font-weight="bold">${esc(r.name)} — ${esc(r.unit)} (${r.higherIsBetter ? "higher" : "lower"} is better)</text>
<rect x="${left}" y="26" width="10" height="8" fill="#2b7bb9"/><text x="${left + 14}" y="34" font-size="10">ours</text>
<rect x="${left + 50}" y="26" width="10" height="8" fill="#bbbbbb"/><text x="${left + 64}" y="34" font-size="10">baseline</text>
${rows}
</svg>
`;
}
