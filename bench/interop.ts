/**
 * `npm run bench -- interop [N]`: N (default 100) sequential Requests (a new connection each,
 * then its Close, untimed) from the upstream client (test/interop/peer, sdk v1.13.2) through our
 * nsmgr vs through upstream's nsmgr, in one run, interleaved in batches of 10. Both stacks are
 * the same otherwise: one registry (ours) behind both nsmgrs, our forwarder (null datapath) and
 * an upstream NSE per nsmgr, everything on unix sockets with fd passing. Needs Go (the peer).
 *
 * ratio = upstream's latency / ours (> 1: ours is faster; the goal is ≥ 2, i.e. ≤ 0.5×).
 * Where the time goes: our nsmgr and both forwarders time their Requests server-side (the
 * Prometheus request histogram), so the run also prints, per arm, the forwarder + NSE share and
 * (ours) the nsmgr's own share; the rest is the upstream client and the hop into the nsmgr.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "../src/core/index.js";
import { nullBackend } from "../src/forwarder/backends/null/index.js";
import { createForwarder, createNsmgr } from "../src/networkservice/components.js";
import { createRegistry } from "../src/registry/chains/registry.js";
import { PromMetrics } from "../src/tools/telemetry/index.js";
import { goAvailable, peerBinary, startPeer, type Peer } from "../test/interop/peer.js";
import { median, percentile, writeResults } from "./lib.js";

export async function run(args: string[]): Promise<void> {
  if (!goAvailable()) {
    console.log("interop bench: go is not installed (the upstream peer is built with it); skipped");
    return;
  }
  const n = Number(args[0] ?? 100);
  const bin = peerBinary();
  const dir = mkdtempSync(join(tmpdir(), "nsm-bench-interop-"));
  const sock = (x: string) => `unix://${join(dir, `${x}.sock`)}`;
  const life = new AbortController();
  const common = { signal: life.signal, dialTimeoutMs: 2000 };
  const stack: (() => unknown)[] = [];
  const timed: Record<string, PromMetrics> = {};
  const telemetry = (name: string) => {
    timed[name] = new PromMetrics({ component: name, name });
    return { prom: timed[name], close: async () => undefined };
  };
  const go = (a: string[]): Peer => {
    const p = startPeer(bin, a);
    stack.push(() => p.stop());
    return p;
  };
  try {
    const reg = await createRegistry({ signal: life.signal, name: "registry" });
    stack.push(() => reg.close());
    const regSrv = await serve([sock("registry")], { nseRegistry: reg.nse, nsRegistry: reg.ns });
    stack.push(() => regSrv.close());
    const registryUrl = regSrv.urls[0]!.href;

    const ours = await createNsmgr({
      ...common,
      telemetry: telemetry("nsmgr"),
      name: "nsmgr-ts",
      listenOn: [sock("nsmgr-ts")],
      registryUrl,
    });
    stack.push(() => ours.close());
    const up = go(["-mode", "nsmgr", "-name", "nsmgr-go", "-listen", sock("nsmgr-go"), "-registry-url", registryUrl]);
    await up.line(/^READY/);
    const stacks = [
      { label: "ours", mgr: ours.url, svc: "bench-ts" },
      { label: "upstream", mgr: sock("nsmgr-go"), svc: "bench-go" },
    ];
    const nscs: Record<string, Peer> = {};
    for (const s of stacks) {
      const f = await createForwarder({
        ...common,
        name: `fwd-${s.label}`,
        telemetry: telemetry(`fwd-${s.label}`),
        listenOn: [sock(`fwd-${s.label}`)],
        nsmgrUrl: s.mgr,
        backend: nullBackend(),
      });
      stack.push(() => f.close());
      const nse = go(["-mode", "nse", "-name", `nse-${s.label}`, "-connect-to", s.mgr, "-service", s.svc]);
      await nse.line(/^READY/);
      const nsc = go([
        "-mode",
        "nsc",
        "-name",
        `nsc-${s.label}`,
        "-connect-to",
        s.mgr,
        "-service",
        s.svc,
        "-no-request",
        "-no-heal",
      ]);
      nscs[s.label] = nsc;
    }
    const lat: Record<string, number[]> = { ours: [], upstream: [] };
    // A failed Request ends its batch; the batch is counted and left out. upstream's grpcfd
    // (v1.1.4 SendFilename) closes the file twice and reports the second close as a send error
    // when the fd leaves before sendfd looks at the channel: "failed to send a file
    // /proc/thread-self/ns/net ...: file already closed" from the upstream NSE (docs/grpcfd.md).
    const failed: Record<string, string[]> = { ours: [], upstream: [] };
    const batch = async (label: string, k: number): Promise<number[]> => {
      const p = nscs[label]!;
      const from = p.lines.length;
      p.send(`bench ${k}`);
      const l = await p.line(/^(BENCH|ERROR)/, 120_000, from);
      if (l.startsWith("ERROR")) {
        failed[label]!.push(l);
        if (failed[label]!.length > 3) throw new Error(`${label}: more than 3 failed batches, the last: ${l}`);
        console.log(`${label}: a batch failed (left out): ${l}`);
        return [];
      }
      return l.slice("BENCH ".length).split(",").map(Number);
    };
    await batch("ours", 5); // warm-up: channels, caches, JIT
    await batch("upstream", 5);
    for (const t of Object.values(timed)) t.requestDuration.reset();
    for (let done = 0; done < n; done += 10) {
      const k = Math.min(10, n - done);
      for (const label of done % 20 === 0 ? ["ours", "upstream"] : ["upstream", "ours"])
        lat[label]!.push(...(await batch(label, k)));
    }
    const results = [50, 99].map((p) => ({
      case: `request/p${p}`,
      ours: percentile(lat["ours"]!, p),
      baseline: percentile(lat["upstream"]!, p),
    }));
    results.push({ case: "request/mean", ours: mean(lat["ours"]!), baseline: mean(lat["upstream"]!) });
    const nsmgr = await serverMeanMs(timed["nsmgr"]!);
    const fwd = { ours: await serverMeanMs(timed["fwd-ours"]!), upstream: await serverMeanMs(timed["fwd-upstream"]!) };
    results.push({ case: "forwarder+nse/mean", ours: fwd.ours, baseline: fwd.upstream });
    console.log(
      `mean per Request: ours ${mean(lat["ours"]!).toFixed(2)} ms = nsmgr's own ${(nsmgr - fwd.ours).toFixed(2)}` +
        ` + forwarder and NSE ${fwd.ours.toFixed(2)} + client and hop ${(mean(lat["ours"]!) - nsmgr).toFixed(2)};` +
        ` upstream ${mean(lat["upstream"]!).toFixed(2)} ms = forwarder and NSE ${fwd.upstream.toFixed(2)}` +
        ` + client, hop and upstream's nsmgr ${(mean(lat["upstream"]!) - fwd.upstream).toFixed(2)}`,
    );
    writeResults("interop", { unit: "ms", higherIsBetter: false, results });
    console.log(
      `median: ours ${median(lat["ours"]!).toFixed(2)} ms, upstream ${median(lat["upstream"]!).toFixed(2)} ms;` +
        ` failed batches: ours ${failed["ours"]!.length}, upstream ${failed["upstream"]!.length}`,
    );
  } finally {
    life.abort();
    for (const fn of stack.reverse())
      await Promise.resolve()
        .then(fn)
        .catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

const mean = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / v.length;

/** mean server-side Request duration (ms) since the last reset */
async function serverMeanMs(p: PromMetrics): Promise<number> {
  const m = await p.requestDuration.get();
  const of = (suffix: string) =>
    m.values.find((v) => v.metricName?.endsWith(suffix) && v.labels["kind"] === "request")?.value ?? NaN;
  return (of("_sum") / of("_count")) * 1000;
}
