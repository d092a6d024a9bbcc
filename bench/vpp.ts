/**
 * bench/vpp: our VPP binary-API client and stats-segment reader vs VPP's own tools, against one
 * private VPP 24.10 (src/vpp/launch.ts) in the same run. Root only; needs /opt/vpp.
 *
 *   npm run bench -- vpp [--calls 2000]
 *
 * Cases (calls/s, higher is better; ratio > 1 = ours faster):
 * - api/show_version: sequential request→reply round trips over the API socket, ours (one
 *   connection, replies awaited one by one) vs `vpp_api_test socket-name … script in` with the
 *   same number of `show_version` lines (its start-up, measured with a 1-line script, subtracted)
 * - api/sw_interface_dump (10 interfaces): dump + control_ping round trips, same baseline tool
 * - api/show_version pipelined: ours with 64 requests in flight (VAT has no pipelining; same baseline)
 * - cli/show version: ours over the API vs one `vppctl show version` per call (what scripts do)
 * - stats/interface counters: our in-place read of every /if/ counter vs one `vpp_get_stats dump /if/`
 *   per read
 * - request→ready p50/p99 (ms, lower is better; ratio > 1 = ours faster): a Request through the
 *   VPP datapath vs the kernel datapath (bench/vpp-cases/ready.ts)
 *
 * - iperf3/tcp NSC→NSE (Gbit/s): a kernel↔kernel connection through the VPP backend vs the same
 *   path made by hand with vppctl against a second VPP (bench/vpp-cases/iperf.ts)
 * - memif↔memif <len>B (Mpps): testpmd loops frames through our native memif crossConnect vs
 *   through VPP's l2 xconnect between two memif interfaces, each on CPU 1 (bench/vpp-cases/memif.ts)
 *
 *   npm run bench -- vpp/api      only the API and stats cases;  vpp/ready  only Request→ready
 *   npm run bench -- vpp/iperf [--seconds 3 --rounds 3]   only iperf3
 *   npm run bench -- vpp/memif [--seconds 2 --reps 3]     only memif↔memif
 *   (a partial run keeps the other rows of bench/results/vpp.json)
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VppClient } from "../src/vpp/client.js";
import { launchVpp } from "../src/vpp/launch.js";
import { vppStats } from "../src/vpp/stats.js";
import { RESULTS_DIR, writeResults, type BenchReport, type CaseResult } from "./lib.js";
import { iperfCases } from "./vpp-cases/iperf.js";
import { memifCases } from "./vpp-cases/memif.js";
import { ready } from "./vpp-cases/ready.js";

const num = (args: string[], flag: string, dflt: number): number => {
  const i = args.indexOf(flag);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const BIN = "/opt/vpp/bin";

/** calls/s of `fn` run back to back for 1 s, after 0.5 s of warm-up (the JIT) */
async function rate(fn: () => Promise<unknown> | unknown): Promise<number> {
  const loop = async (ms: number) => {
    let n = 0;
    const t = process.hrtime.bigint();
    for (const end = Date.now() + ms; Date.now() < end; n++) await fn();
    return n / (Number(process.hrtime.bigint() - t) / 1e9);
  };
  await loop(500);
  return loop(1000);
}

function timed(f: () => void): number {
  const t = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

export async function run(args: string[] = []): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("bench/vpp needs root (VPP)");
  const calls = num(args, "--calls", 2000);
  const only = args[0] && !args[0].startsWith("--") ? args[0] : undefined;
  const results: CaseResult[] = [];
  if (!only || only === "api") results.push(...(await apiCases(calls)));
  if (!only || only === "ready") results.push(...(await ready(num(args, "--requests", 50))));
  if (!only || only === "iperf")
    results.push(...(await iperfCases(num(args, "--seconds", 3), num(args, "--rounds", 3))));
  if (!only || only === "memif") results.push(...(await memifCases(num(args, "--seconds", 2), num(args, "--reps", 3))));
  // a partial run keeps the other rows of the last full one
  const file = join(RESULTS_DIR, "vpp.json");
  const kept =
    only && existsSync(file)
      ? (JSON.parse(readFileSync(file, "utf8")) as BenchReport).results.filter(
          (c) => !results.some((r) => r.case === c.case),
        )
      : [];
  writeResults("vpp", {
    unit: "calls/s (request→ready: ms; iperf3: Gbit/s; memif: Mpps)",
    higherIsBetter: true,
    results: [...kept, ...results],
  });
}

async function apiCases(calls: number): Promise<CaseResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "bench-vpp-"));
  const vpp = await launchVpp({ dir });
  const results: CaseResult[] = [];
  try {
    const c = await VppClient.connect(vpp.apiSocket);
    for (let i = 0; i < 9; i++) await c.request("create_loopback", {});
    /** VAT running `line` n times in one process, start-up subtracted */
    const vat = (line: string, n: number) => {
      const script = (k: number) => {
        const f = join(dir, `vat-${k}`);
        writeFileSync(f, `${line}\n`.repeat(k));
        return f;
      };
      const go = (k: number) =>
        timed(() =>
          execFileSync(`${BIN}/vpp_api_test`, ["socket-name", vpp.apiSocket, "script", "in", script(k)], {
            stdio: "ignore",
          }),
        );
      const base = Math.min(go(1), go(1), go(1));
      return (n - 1) / Math.max(1e-6, go(n) - base);
    };

    results.push({
      case: "api/show_version",
      ours: await rate(() => c.request("show_version", {})),
      baseline: vat("show_version", calls),
      note: "baseline: vpp_api_test script",
    });
    results.push({
      case: "api/sw_interface_dump (10 interfaces)",
      ours: await rate(() => c.dump("sw_interface_dump", { sw_if_index: 0xffffffff })),
      baseline: vat("sw_interface_dump", calls / 4),
      note: "baseline: vpp_api_test script",
    });
    const pipelined = async () => {
      for (let i = 0; i < calls; i += 64)
        await Promise.all(Array.from({ length: 64 }, () => c.request("show_version", {})));
      const t = process.hrtime.bigint();
      for (let i = 0; i < calls; i += 64)
        await Promise.all(Array.from({ length: 64 }, () => c.request("show_version", {})));
      return calls / (Number(process.hrtime.bigint() - t) / 1e9);
    };
    results.push({
      case: "api/show_version pipelined (64 in flight)",
      ours: await pipelined(),
      baseline: results[0]!.baseline,
      note: "baseline: vpp_api_test script (sequential only)",
    });
    const few = 40;
    results.push({
      case: "cli/show version",
      ours: await rate(() => c.request("cli_inband", { cmd: "show version" })),
      baseline:
        few /
        timed(() => {
          for (let i = 0; i < few; i++)
            execFileSync(`${BIN}/vppctl`, ["-s", vpp.cliSocket, "show", "version"], { stdio: "ignore" });
        }),
      note: "baseline: one vppctl process per call",
    });
    const stats = vppStats(dir);
    results.push({
      case: "stats/interface counters (10 interfaces)",
      ours: await rate(() => stats.interfaces()),
      baseline:
        few /
        timed(() => {
          for (let i = 0; i < few; i++)
            execFileSync(`${BIN}/vpp_get_stats`, ["socket-name", vpp.statsSocket, "dump", "/if/"], { stdio: "ignore" });
        }),
      note: "baseline: one vpp_get_stats dump /if/ per read",
    });
    stats.close();
    await c.close();
  } finally {
    await vpp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) await run(process.argv.slice(2));
