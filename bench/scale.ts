/**
 * bench/scale: how the control plane behaves as live connections grow — Request p50 and nsmgr
 * RSS at 100 / 1,000 / 10,000 live connections, and setups/s while 1,000 are live. Same shape
 * as bench/controlplane: nsmgr is its own process (`nsm nsmgr`, memory registry, unix sockets),
 * forwarder (null datapath), NSE and client run in this process.
 *
 *   npm run bench -- scale [--steps 100,1000,10000] [--concurrency 16] [--samples 50] [--heal 100]
 *
 * Cases (one per step N): `request p50 @N live (ms)` (sequential new Requests, closed again),
 * `nsmgr RSS @N live (MiB)` (baseline: the 150 MiB goal, meant at 1,000), and
 * `setups/s @1000 live (conn/s)` (500 new connections at `concurrency` while 1,000 are live;
 * baseline: the 1,000/s goal), `heal 100 at once (ms)` (100 connections to one NSE that is then
 * closed; until all healed to a second NSE; `--heal 0` skips it). Besides results/scale.json (+ bar chart) it writes
 * results/scale-curve.svg: p50 and RSS against live connections (log scale).
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { newCtx } from "../src/core/index.js";
import type { Connection } from "../src/api/index.js";
import { createClient, createEndpoint } from "../src/networkservice/components.js";
import { parseNsUrl, requestFromNsUrl } from "../src/networkservice/utils/nsurl.js";
import {
  median,
  now,
  pool,
  RESULTS_DIR,
  rssMiB,
  startControlPlane,
  timed,
  writeResults,
  type CaseResult,
} from "./lib.js";

const arg = (args: string[], name: string, d: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : d;
};

const fds = (pid: number | "self"): number => readdirSync(`/proc/${pid}/fd`).length;

/** Two series against a log x axis, each scaled to its own max (left: ms, right: MiB). */
function curveSvg(points: { n: number; p50: number; rss: number }[]): string {
  const W = 560,
    H = 300,
    L = 60,
    R = 60,
    T = 40,
    B = 40;
  const xs = points.map((p) => Math.log10(p.n));
  const x0 = Math.min(...xs),
    x1 = Math.max(...xs);
  const x = (n: number) => L + ((Math.log10(n) - x0) / (x1 - x0 || 1)) * (W - L - R);
  const maxP = Math.max(...points.map((p) => p.p50)) * 1.1 || 1,
    maxR = Math.max(...points.map((p) => p.rss)) * 1.1 || 1;
  const yP = (v: number) => H - B - (v / maxP) * (H - T - B),
    yR = (v: number) => H - B - (v / maxR) * (H - T - B);
  const line = (f: (p: (typeof points)[0]) => number, color: string) =>
    `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.map((p) => `${x(p.n).toFixed(1)},${f(p).toFixed(1)}`).join(" ")}"/>` +
    points.map((p) => `<circle cx="${x(p.n).toFixed(1)}" cy="${f(p).toFixed(1)}" r="3" fill="${color}"/>`).join("");
  const labels = points
    .map(
      (p) =>
        `<text x="${x(p.n).toFixed(1)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${p.n}</text>` +
        `<text x="${x(p.n).toFixed(1)}" y="${(yP(p.p50) - 6).toFixed(1)}" text-anchor="middle" font-size="10" fill="#2b7bb9">${p.p50.toFixed(2)} ms</text>` +
        `<text x="${x(p.n).toFixed(1)}" y="${(yR(p.rss) + 14).toFixed(1)}" text-anchor="middle" font-size="10" fill="#c0392b">${p.rss.toFixed(0)} MiB</text>`,
    )
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="20" font-size="14" font-weight="bold">Request p50 (blue) and nsmgr RSS (red) vs live connections</text>
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#888"/>
${line((p) => yP(p.p50), "#2b7bb9")}
${line((p) => yR(p.rss), "#c0392b")}
${labels}
<text x="${W / 2}" y="${H - 6}" text-anchor="middle" font-size="11">live connections (log scale)</text>
</svg>
`;
}

export async function run(args: string[]): Promise<void> {
  const steps = arg(args, "steps", "100,1000,10000").split(",").map(Number);
  const concurrency = Number(arg(args, "concurrency", "16"));
  const samples = Number(arg(args, "samples", "50"));
  const healConns = Number(arg(args, "heal", "100"));
  const cp = await startControlPlane("nsm-bench-scale-", 30_000);
  const { dir, nsmgrUrl, child, common, request, close: closeConn } = cp;
  const out: CaseResult[] = [];
  const points: { n: number; p50: number; rss: number }[] = [];
  try {
    for (let i = 0; i < 30; i++) await closeConn(await request()); // warm-up

    // heal: `healConns` connections to one NSE, which then dies (closed abruptly); a second NSE
    // for the same service started after they were made is where they heal to. The figure is
    // the time from the kill until every connection was healed (onHealed).
    if (healConns > 0) {
      const nseA = await createEndpoint({
        ...common,
        name: "nse-a",
        listenOn: [`unix://${join(dir, "nse-a.sock")}`],
        nsmgrUrl,
        services: ["heal"],
        cidrs: ["172.16.0.0/16"],
      });
      let healed = 0;
      let allHealed: () => void = () => {};
      const done = new Promise<void>((r) => (allHealed = r));
      const hc = await createClient({
        ...common,
        name: "nsc-heal",
        nsmgrUrl,
        heal: { onHealed: () => ++healed === healConns && allHealed() },
      });
      cp.defer(() => hc.close());
      const hu = parseNsUrl("kernel://heal/nsm-1");
      const hconns: Connection[] = [];
      await pool(healConns, concurrency, async (i) => {
        hconns.push(await hc.client.request(requestFromNsUrl(hu, `h-${i}`), newCtx({ deadline: Date.now() + 30_000 })));
      });
      const nseB = await createEndpoint({
        ...common,
        name: "nse-b",
        listenOn: [`unix://${join(dir, "nse-b.sock")}`],
        nsmgrUrl,
        services: ["heal"],
        cidrs: ["172.17.0.0/16"],
      });
      cp.defer(() => nseB.close());
      const t0 = now();
      await nseA.close();
      const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 60_000).unref());
      const res = await Promise.race([done.then(() => "ok" as const), timeout]);
      const ms = now() - t0;
      out.push({
        case: `heal ${healConns} at once (ms)`,
        ours: res === "ok" ? ms : NaN,
        baseline: null,
        note: res === "ok" ? "NSE closed → every connection healed to the other NSE" : `${healed} healed in 60 s`,
      });
      await pool(hconns.length, concurrency, (i) =>
        hc.client.close(hconns[i]!, newCtx({ deadline: Date.now() + 30_000 })).catch(() => {}),
      );
    }
    const live: Connection[] = [];
    for (const n of steps) {
      try {
        await pool(n - live.length, concurrency, async () => {
          live.push(await request());
        });
      } catch (err) {
        // e.g. EMFILE: each live connection holds fds here (see the note)
        const msg = err instanceof Error ? err.message : String(err);
        console.log(`scale: filling to ${n} failed at ${live.length} live: ${msg.slice(0, 300)}`);
        out.push({
          case: `fill to ${n} live (failed at)`,
          ours: live.length,
          baseline: n,
          note: `fds: this process ${fds("self")}, nsmgr ${fds(child.pid!)}; ${msg.slice(0, 200)}`,
        });
        break;
      }
      console.log(
        `scale: ${live.length} live; fds: this process ${fds("self")}, nsmgr ${fds(child.pid!)} (pid ${child.pid})`,
      );
      if (n === 1000) {
        const extra: Connection[] = [];
        const t0 = now();
        await pool(500, concurrency, async () => {
          extra.push(await request());
        });
        const rate = 500 / ((now() - t0) / 1000);
        out.push({
          case: "setups/s @1000 live (conn/s)",
          ours: rate,
          baseline: 1000,
          ratio: rate / 1000,
          note: `500 new at ${concurrency} in flight; baseline: the 1,000/s goal`,
        });
        await pool(extra.length, concurrency, (i) => closeConn(extra[i]!));
      }
      const lat: number[] = [];
      for (let i = 0; i < samples; i++) await closeConn(await timed(request, lat));
      await new Promise((r) => setTimeout(r, 500));
      const rss = rssMiB(child.pid!);
      points.push({ n: live.length, p50: median(lat), rss });
      out.push({
        case: `request p50 @${live.length} live (ms)`,
        ours: median(lat),
        baseline: null,
        note: `fds: this process (NSC, forwarder, NSE) ${fds("self")}, nsmgr ${fds(child.pid!)}`,
      });
      out.push({
        case: `nsmgr RSS @${live.length} live (MiB)`,
        ours: rss,
        baseline: 150,
        ratio: 150 / rss,
        note: "baseline: the 150 MiB goal (meant at 1,000)",
      });
    }
    await pool(live.length, concurrency, (i) => closeConn(live[i]!).catch(() => {}));
    live.length = 0;
  } finally {
    await cp.stop();
  }
  writeResults("scale", { unit: "ms | MiB | conn/s (see case)", higherIsBetter: false, results: out });
  mkdirSync(RESULTS_DIR, { recursive: true });
  if (points.length > 1) writeFileSync(join(RESULTS_DIR, "scale-curve.svg"), curveSvg(points));
}

if (import.meta.url === `file://${process.argv[1]}`) await run(process.argv.slice(2));
