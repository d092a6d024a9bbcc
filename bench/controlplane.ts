/**
 * bench/controlplane: Request→ready latency, setups/s with many live connections and nsmgr RSS
 * through the whole control plane (NSC → nsmgr → forwarder (null datapath) → NSE) over gRPC on
 * unix sockets. nsmgr runs as its own process (`nsm nsmgr`, memory registry) so its RSS is its
 * own; forwarder, NSE and clients run in this process.
 *
 *   npm run bench -- controlplane [--conns 1000] [--samples 300] [--concurrency 16]
 *
 * Cases (unit in the case name; `ratio` > 1 = ours better than its baseline):
 * - request p50|p99 (ms): a new connection, sequential. Baseline: the same 3 gRPC hops as a bare
 *   relay (serve/dial, no chain elements): what the transport alone costs.
 * - request p50, payload relay (ms): the same, but the relay carries what our hops carry (a
 *   connection with a 4-segment path and tokens, a token in the call metadata): the transport's
 *   share for messages of our size (~1.3x the bare relay).
 * - request p50, 50 concurrent (ms): bursts of 50 new Requests started together, each timed to
 *   ready. Baseline: the relay the same way.
 * - refresh p50 (ms): re-Request of a live connection. Baseline: the relay.
 * - setups/s @N live: new connections at `concurrency` while N are live. Baseline: relay calls/s.
 * - nsmgr RSS @N live (MiB). Baseline: the 200 MiB goal.
 * - CPU per Request (ms): user+system CPU time summed over every process of a local connection
 *   (this process: NSC, forwarder, NSE; the nsmgr child from /proc/<pid>/stat) per sequential
 *   new Request, less sensitive to machine load than wall time. Baseline: the 1 ms goal; the
 *   bare relay's CPU per call is in the note. `--cpu-only` runs just this case
 *   (after the warm-up) into results/controlplane-cpu.json.
 * Goals (issue #5): p50 ≤ 2 ms, ≥ 500 setups/s, RSS ≤ 200 MiB at 1,000 connections.
 */
import { join } from "node:path";
import { connectTo, dial, newCtx, serve, type GrpcServer, type GrpcConn } from "../src/core/index.js";
import { clone, create, ConnectionSchema, NetworkServiceRequestSchema, type Connection } from "../src/api/index.js";
import { OUTGOING_METADATA } from "../src/core/index.js";
import { tokenMetadata } from "../src/tools/token/index.js";
import { parseNsUrl, requestFromNsUrl } from "../src/networkservice/utils/nsurl.js";
import { chain } from "../src/core/index.js";
import {
  median,
  percentile,
  pool,
  procCpuMs,
  rssMiB,
  selfCpuMs,
  startControlPlane,
  timed,
  now,
  writeResults,
  type CaseResult,
} from "./lib.js";

const arg = (args: string[], name: string, d: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};

/** Three chained bare gRPC hops with the same messages: the transport's share of a Request. */
async function relay(dir: string): Promise<{ conn: GrpcConn; close(): Promise<void> }> {
  const servers: GrpcServer[] = [];
  const conns: GrpcConn[] = [];
  let nextUrl: string | undefined;
  for (let i = 2; i >= 0; i--) {
    const url = `unix://${join(dir, `relay-${i}.sock`)}`;
    const down = nextUrl ? dial(nextUrl) : undefined;
    if (down) conns.push(down);
    servers.push(await serve([url], { networkService: down ? chain(connectTo(down.networkService)) : chain() }));
    nextUrl = url;
  }
  const conn = dial(nextUrl!);
  conns.push(conn);
  return {
    conn,
    async close() {
      for (const c of conns) c.close();
      for (const s of servers) await s.close();
    },
  };
}

export async function run(args: string[]): Promise<void> {
  const conns = arg(args, "conns", 1000);
  const samples = arg(args, "samples", 300);
  const concurrency = arg(args, "concurrency", 16);
  const cpuOnly = args.includes("--cpu-only");
  const cpuRequests = arg(args, "cpu-requests", 1000);
  const cp = await startControlPlane("nsm-bench-cp-", 15_000);
  const { dir, child, nsc, request, close: closeConn } = cp;
  const u = parseNsUrl("kernel://icmp/nsm-1");
  let n = 0;
  const out: CaseResult[] = [];
  try {
    const r = await relay(dir);
    cp.defer(() => r.close());
    const relayReq = () =>
      r.conn.networkService.request(requestFromNsUrl(u, `r-${n++}`), newCtx({ deadline: Date.now() + 15_000 }));

    // the relay again, carrying messages of our size: a live connection's full path and tokens
    let sample: Connection | undefined;
    const relayFull = async () => {
      const conn = clone(ConnectionSchema, sample!);
      conn.id = `r-${n++}`;
      const req = create(NetworkServiceRequestSchema, {
        connection: conn,
        mechanismPreferences: requestFromNsUrl(u, conn.id).mechanismPreferences,
      });
      return r.conn.networkService.request(
        req,
        newCtx({ deadline: Date.now() + 15_000 }).withValue(OUTGOING_METADATA, tokenMetadata(await nsc.tokens())),
      );
    };

    // warm up all three
    for (let i = 0; i < 50; i++) {
      sample = await request();
      await closeConn(sample);
      await relayReq();
      await relayFull();
    }

    // CPU per Request: sequential new Requests (ours alone, nothing else runs here), then the
    // bare relay the same way; /proc ticks are 10 ms so the count must be large
    {
      const cpuRun = async (fn: () => Promise<unknown>, withNsmgr: boolean) => {
        const self0 = process.cpuUsage();
        const mgr0 = withNsmgr ? procCpuMs(child.pid!) : 0;
        for (let i = 0; i < cpuRequests; i++) await fn();
        const self = selfCpuMs(self0);
        const mgr = withNsmgr ? procCpuMs(child.pid!) - mgr0 : 0;
        return { self: self / cpuRequests, mgr: mgr / cpuRequests };
      };
      const made: Connection[] = [];
      const oursCpu = await cpuRun(async () => made.push(await request()), true);
      for (const c of made) await closeConn(c);
      const relayCpu = await cpuRun(relayReq, false);
      const total = oursCpu.self + oursCpu.mgr;
      out.push({
        case: "CPU per Request (ms)",
        ours: total,
        baseline: 1,
        ratio: 1 / total,
        note:
          `baseline = the 1 ms goal; nsmgr ${oursCpu.mgr.toFixed(3)} + NSC/forwarder/NSE ` +
          `${oursCpu.self.toFixed(3)}; bare 3-hop relay ${relayCpu.self.toFixed(3)} ms/call`,
      });
    }
    if (!cpuOnly) {
      // sequential Request → ready, alternating ours and the relay so both see the same machine load
      const ours: number[] = [],
        base: number[] = [],
        full: number[] = [];
      const live: Connection[] = [];
      for (let i = 0; i < samples; i++) {
        live.push(await timed(request, ours));
        await timed(relayReq, base);
        await timed(relayFull, full);
      }
      out.push({ case: "request p50 (ms)", ours: median(ours), baseline: median(base) });
      out.push({ case: "request p99 (ms)", ours: percentile(ours, 99), baseline: percentile(base, 99) });
      out.push({
        case: "request p50, payload relay (ms)",
        ours: median(ours),
        baseline: median(full),
        note: "baseline: the relay carrying our message sizes",
      });

      // refresh of live connections
      const ref: number[] = [];
      for (const c of live.slice(0, Math.min(200, live.length)))
        await timed(
          () =>
            nsc.client.request(
              clone(NetworkServiceRequestSchema, requestFromNsUrl(u, c.id)),
              newCtx({ deadline: Date.now() + 15_000 }),
            ),
          ref,
        );
      out.push({ case: "refresh p50 (ms)", ours: median(ref), baseline: median(base) });

      // fill up to `conns` live connections, timing the setups
      const t0 = now();
      const need = conns - live.length;
      await pool(need, concurrency, async () => {
        live.push(await request());
      });
      const oursRate = need / ((now() - t0) / 1000);
      const t1 = now();
      await pool(need, concurrency, () => relayReq());
      const baseRate = need / ((now() - t1) / 1000);
      out.push({
        case: `setups/s @${conns} live (conn/s)`,
        ours: oursRate,
        baseline: baseRate,
        ratio: oursRate / baseRate,
      });
      if (global.gc) global.gc();
      await new Promise((res) => setTimeout(res, 500));
      const rss = rssMiB(child.pid!);
      out.push({
        case: `nsmgr RSS @${live.length} live (MiB)`,
        ours: rss,
        baseline: 200,
        ratio: 200 / rss,
        note: "baseline = the 200 MiB goal",
      });

      // bursts of 50 new Requests at once (issue #19: Request→ready p50 ≤ 30 ms), the relay the same way
      const burst = async (fn: () => Promise<unknown>, keep: boolean) => {
        const lat: number[] = [];
        for (let round = 0; round < 4; round++)
          await Promise.all(
            Array.from({ length: 50 }, async () => {
              const c = await timed(fn, lat);
              if (keep) live.push(c as Connection);
            }),
          );
        return lat;
      };
      const burstOurs = await burst(request, true);
      const burstBase = await burst(relayReq, false);
      out.push({ case: "request p50, 50 concurrent (ms)", ours: median(burstOurs), baseline: median(burstBase) });

      // tear down what we built, timing the closes too
      const t2 = now();
      await pool(live.length, concurrency, (i) => closeConn(live[i]!));
      out.push({
        case: "closes/s (conn/s)",
        ours: live.length / ((now() - t2) / 1000),
        baseline: null,
        note: "no baseline",
      });
    }
  } finally {
    await cp.stop();
  }
  writeResults(cpuOnly ? "controlplane-cpu" : "controlplane", {
    unit: "ms | conn/s | MiB (see case)",
    higherIsBetter: false,
    results: out.map((c) => ({ ...c, ratio: c.ratio ?? (c.baseline ? c.baseline / c.ours : null) })),
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await run(process.argv.slice(2));
