/**
 * bench/security: what mTLS + SVID-signed tokens + authorization cost a Request, measured in one
 * run against the same mesh in plaintext. An in-process sandbox (1 node: nsmgr, null forwarder,
 * an NSE, a client; real grpc-js on unix sockets): p50/p99 of a new connection's Request and of a
 * refresh, each with a process SPIFFE identity (built-in trust domain) vs. without.
 *
 *   npm run bench -- security [--samples 100]
 *
 * `ratio` = plaintext / secure (> 1 would mean security is faster); goal: secure p50 ≤ 1.3 ×
 * plaintext, i.e. ratio ≥ 0.77.
 */
import { setProcessIdentity } from "../src/core/index.js";
import { sandbox } from "../src/sandbox/index.js";
import { issuerSource, newTrustDomain } from "../src/tools/spiffe/index.js";
import { measure, median, percentile, writeResults, type CaseResult } from "./lib.js";

const arg = (args: string[], name: string, d: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};

async function round(samples: number, secure: boolean) {
  const id = secure ? issuerSource(newTrustDomain("nsm.bench"), "spiffe://nsm.bench/mesh") : undefined;
  setProcessIdentity(id);
  const sb = await sandbox({ nodes: 1 });
  try {
    await sb.node(0).endpoint({ name: "nse-1", services: ["icmp"] });
    const nsc = await sb.node(0).client();
    const conns: Awaited<ReturnType<typeof nsc.request>>[] = [];
    const req = await measure(samples, async (i) => {
      conns.push(await nsc.request("kernel://icmp/nsm-1", { id: `c-${secure}-${i}` }));
    });
    const refresh = await measure(samples, (i) =>
      nsc.request("kernel://icmp/nsm-1", { connection: conns[i % conns.length] }),
    );
    for (const c of conns) await nsc.close(c).catch(() => undefined);
    return { req, refresh };
  } finally {
    await sb.close();
    setProcessIdentity(undefined);
    id?.close();
  }
}

export async function run(args: string[]): Promise<void> {
  const samples = Math.min(110, arg(args, "samples", 100)); // the NSE hands out a /24: ≤ 120 live connections
  // alternate so that drift on a shared machine hits both alike
  const plain1 = await round(samples, false);
  const sec1 = await round(samples, true);
  const plain2 = await round(samples, false);
  const sec2 = await round(samples, true);
  const plain = { req: [...plain1.req, ...plain2.req], refresh: [...plain1.refresh, ...plain2.refresh] };
  const sec = { req: [...sec1.req, ...sec2.req], refresh: [...sec1.refresh, ...sec2.refresh] };
  const results: CaseResult[] = [
    {
      case: "request p50 (ms)",
      ours: median(sec.req),
      baseline: median(plain.req),
      note: "mTLS+tokens+authorize vs plaintext",
    },
    { case: "request p99 (ms)", ours: percentile(sec.req, 99), baseline: percentile(plain.req, 99) },
    { case: "refresh p50 (ms)", ours: median(sec.refresh), baseline: median(plain.refresh) },
  ];
  writeResults("security", { unit: "ms", higherIsBetter: false, results });
}
