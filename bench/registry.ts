/**
 * bench/registry: registrations/s, Find latency and watch fan-out of the registry server over
 * gRPC, memory, etcd and Kubernetes custom resources (k8s store, a throwaway kube-apiserver)
 * side by side. The registry runs as its own process (`nsm registry` on a
 * unix socket in a temp dir), the load comes from this one: on 2 cores, each gets one.
 *
 *   npm run bench -- registry [--nses 1000] [--watchers 100] [--regs 5000] [--concurrency 64] [--channels 4]
 *                             [--stores memory,etcd,k8s]
 *   NSM_BENCH_REGISTRY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof/reg" npm run bench -- registry ...
 *
 * Cases (unit in the case name; `ratio` > 1 = ours better than its baseline):
 * - <store>/register (reg/s): Register of distinct NSEs through the full chain over gRPC, from
 *   `channels` gRPC channels (as a fleet of nsmgrs, one channel each; default 4) sharing
 *   `concurrency` calls in flight. Baseline: the bare store's put at the same concurrency.
 * - <store>/find p50|p99 (ms): non-watch Find by name with `nses` registered. Baseline: the same
 *   Find against a chain that only yields one stored entry (gRPC + stream cost alone).
 * - <store>/fanout p50|p99 (ms): one Register refresh until all `watchers` watch streams saw it.
 *   Baseline: the 50 ms goal.
 * - <store>/fanout-all (ms): `nses` registrations in a burst until every watcher saw every one.
 * - k8s-vs-etcd/register (reg/s), k8s-vs-etcd/fanout p99 (ms): the k8s store against etcd in
 *   the same run (baseline: etcd).
 * Goals (issue #4): ≥ 5,000 reg/s memory, ≥ 1,000 reg/s etcd, fan-out p99 ≤ 50 ms.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { setMaxListeners } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  create,
  fromBinary,
  NetworkServiceEndpointSchema,
  toBinary,
  type NetworkServiceEndpoint,
} from "../src/api/index.js";
import { dial, newCtx, nseChain, serve, type NseRegistryServer } from "../src/core/index.js";
import { openStore } from "../src/registry/store/open.js";
import { NSE, nseQuery } from "../src/registry/tools.js";
import { startEtcd, type EtcdProcess } from "../test/helpers/etcd.js";
import { apiServerSkip, startApiServer, type ApiServer } from "../test/helpers/kube-apiserver.js";
import { now, percentile, pool, procCpuMs, selfCpuMs, writeResults, type CaseResult } from "./lib.js";

const arg = (args: string[], name: string, d: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const mk = (name: string, i: number): NetworkServiceEndpoint =>
  create(NetworkServiceEndpointSchema, {
    name,
    url: `tcp://10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:5001`,
    networkServiceNames: ["icmp"],
    networkServiceLabels: { icmp: { labels: { app: "bench", n: String(i % 7) } } },
  });

async function benchStore(
  label: string,
  store: string,
  o: { nses: number; watchers: number; regs: number; concurrency: number; channels: number },
  k8s?: { kubeconfig: string; rawStore: string },
): Promise<CaseResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "nsm-bench-reg-"));
  const sock = `unix://${dir}/registry.sock`;
  // NSM_BENCH_REGISTRY_NODE_ARGS: extra node flags for the registry process (e.g. --cpu-prof)
  const nodeArgs = (process.env.NSM_BENCH_REGISTRY_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const bin = new URL("../bin/nsm.mjs", import.meta.url).pathname;
  const child = spawn(process.execPath, [...nodeArgs, bin, "registry"], {
    env: {
      ...process.env,
      NSM_LISTEN_ON: sock,
      NSM_REGISTRY_STORE: store,
      NSM_LOG_LEVEL: "INFO",
      ...(k8s ? { KUBECONFIG: k8s.kubeconfig } : {}),
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on("data", (d: Buffer) => {
      log = (log + d.toString()).slice(-4000);
      if (log.includes("Startup completed")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`nsm registry exited (${code}): ${log}`)));
  });
  const raw = await openStore<NetworkServiceEndpoint>(k8s?.rawStore ?? store, {
    clone: NSE.clone,
    kubeconfig: k8s?.kubeconfig,
    prefix: "/nsm/bench-raw/",
    codec: {
      encode: (v) => toBinary(NetworkServiceEndpointSchema, v),
      decode: (b) => fromBinary(NetworkServiceEndpointSchema, b),
    },
  });
  const conn = dial(sock);
  // registrations come from a fleet of nsmgrs, each with its own channel to the registry
  const fleet = [conn, ...Array.from({ length: Math.max(0, o.channels - 1) }, () => dial(sock))];
  const via = (i: number) => fleet[i % fleet.length]!.nseRegistry;
  const out: CaseResult[] = [];
  // a plain deadline: no per-call AbortSignal.timeout (those cost GC in the load generator)
  const ctx = () => newCtx({ deadline: Date.now() + 30_000 });
  try {
    // registrations/s
    await pool(200, o.concurrency, (i) => via(i).register(mk(`warm-${i}`, i), ctx()));
    let t = now();
    const cpu0 = procCpuMs(child.pid!),
      self0 = process.cpuUsage();
    await pool(o.regs, o.concurrency, (i) => via(i).register(mk(`r-${i}`, i), ctx()));
    const regsPerS = o.regs / ((now() - t) / 1000);
    const regCpuUs = ((procCpuMs(child.pid!) - cpu0) * 1000) / o.regs,
      clientCpuUs = (selfCpuMs(self0) * 1000) / o.regs;
    t = now();
    await pool(o.regs, o.concurrency, (i) => raw.put(`raw-${i}`, mk(`raw-${i}`, i)));
    const rawPerS = o.regs / ((now() - t) / 1000);
    out.push({
      case: `${label}/register (reg/s)`,
      ours: regsPerS,
      baseline: rawPerS,
      ratio: regsPerS / rawPerS,
      note: `${fleet.length} channel(s), ${o.concurrency} in flight; baseline: bare store put`,
    });
    // CPU time per Register (far less sensitive to the other load on the machine than reg/s)
    out.push({
      case: `${label}/register CPU (µs/reg)`,
      ours: regCpuUs,
      baseline: null,
      note: `registry process; one core's worth = ${(1e6 / regCpuUs).toFixed(0)} reg/s; client (this process) ${clientCpuUs.toFixed(0)} µs/reg`,
    });
    // clean slate with `nses` entries for find and fan-out
    await pool(200, o.concurrency, (i) => conn.nseRegistry.unregister(mk(`warm-${i}`, i), ctx()));
    await pool(o.regs, o.concurrency, (i) => conn.nseRegistry.unregister(mk(`r-${i}`, i), ctx()));
    await pool(o.regs, o.concurrency, (i) => raw.delete(`raw-${i}`));
    await pool(o.nses, o.concurrency, (i) => conn.nseRegistry.register(mk(`nse-${i}`, i), ctx()));

    // Find latency (by name) vs a one-entry echo chain over the same transport
    const findOnce = async (s: NseRegistryServer, name: string) => {
      for await (const _ of s.find(nseQuery({ name }), ctx())) {
        /* drain */
      }
    };
    const lat: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const t0 = now();
      await findOnce(conn.nseRegistry, `nse-${i % o.nses}`);
      lat.push(now() - t0);
    }
    const one = mk("echo", 1);
    const echoSrv = await serve(["tcp://127.0.0.1:0"], {
      nseRegistry: nseChain({
        async *find() {
          yield NSE.response(one, false);
        },
      }),
    });
    const echoConn = dial(echoSrv.urls[0]!);
    const base: number[] = [];
    try {
      for (let i = 0; i < 1000; i++) {
        const t0 = now();
        await findOnce(echoConn.nseRegistry, "echo");
        base.push(now() - t0);
      }
    } finally {
      echoConn.close();
      await echoSrv.close();
    }
    for (const p of [50, 99]) {
      const a = percentile(lat.slice(100), p),
        b = percentile(base.slice(100), p);
      out.push({
        case: `${label}/find p${p} (ms)`,
        ours: a,
        baseline: b,
        ratio: b / a,
        note: `${o.nses} NSEs; baseline: one-entry echo Find`,
      });
    }

    // watch fan-out
    const wac = new AbortController();
    setMaxListeners(0, wac.signal);
    const seen = new Map<string, number>(); // "name#gen" → watchers that saw it
    const waiters = new Map<string, () => void>();
    let gen = 0;
    const streams = Array.from({ length: o.watchers }, async () => {
      try {
        for await (const r of conn.nseRegistry.find(nseQuery({}, true), newCtx({ signal: wac.signal }))) {
          const e = r.networkServiceEndpoint!;
          const key = `${e.name}#${e.networkServiceLabels.icmp?.labels.gen ?? ""}`;
          const c = (seen.get(key) ?? 0) + 1;
          seen.set(key, c);
          if (c === o.watchers) waiters.get(key)?.();
        }
      } catch {
        /* cancelled */
      }
    });
    const allSaw = (key: string) =>
      new Promise<void>((res) => {
        if (seen.get(key) === o.watchers) res();
        else waiters.set(key, res);
      });
    // wait until every watcher has its initial list
    await allSaw(`nse-${o.nses - 1}#`);
    const fan: number[] = [];
    const fanCpu0 = procCpuMs(child.pid!);
    for (let i = 0; i < 200; i++) {
      const g = String(++gen);
      const e = mk(`nse-${i % o.nses}`, i % o.nses);
      e.networkServiceLabels.icmp!.labels.gen = g;
      const key = `${e.name}#${g}`;
      const done = allSaw(key);
      const t0 = now();
      await conn.nseRegistry.register(e, ctx());
      await done;
      fan.push(now() - t0);
      seen.delete(key);
      waiters.delete(key);
    }
    const fanCpuUs = ((procCpuMs(child.pid!) - fanCpu0) * 1000) / 200;
    out.push({
      case: `${label}/fanout CPU (µs/change)`,
      ours: fanCpuUs,
      baseline: null,
      note: `registry process, one change → ${o.watchers} watchers (${(fanCpuUs / o.watchers).toFixed(0)} µs per watcher)`,
    });
    for (const p of [50, 99]) {
      const v = percentile(fan.slice(20), p);
      out.push({
        case: `${label}/fanout p${p} (ms)`,
        ours: v,
        baseline: 50,
        ratio: 50 / v,
        note: `1 change → ${o.watchers} watchers; baseline: 50 ms goal`,
      });
    }
    // burst: every NSE changes once; until every watcher saw every change
    const g = String(++gen);
    const keys = Array.from({ length: o.nses }, (_, i) => `nse-${i}#${g}`);
    const all = Promise.all(keys.map(allSaw));
    const t0 = now();
    await pool(o.nses, o.concurrency, (i) => {
      const e = mk(`nse-${i}`, i);
      e.networkServiceLabels.icmp!.labels.gen = g;
      return conn.nseRegistry.register(e, ctx());
    });
    await all;
    out.push({
      case: `${label}/fanout-all (ms)`,
      ours: now() - t0,
      baseline: null,
      note: `${o.nses} changes × ${o.watchers} watchers`,
    });
    wac.abort();
    await Promise.all(streams);
  } finally {
    for (const c of fleet) c.close();
    await raw.close();
    const exited = new Promise<void>((r) =>
      child.once("exit", (code, signal) => {
        // an abnormal end (e.g. an abort at SIGTERM) is worth seeing: it also loses --cpu-prof output
        if (code !== 0) console.log(`nsm registry ended with ${code ?? signal}: ${log.slice(-600)}`);
        r();
      }),
    );
    child.kill("SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

export async function run(args: string[]): Promise<void> {
  const o = {
    nses: arg(args, "nses", 1000),
    watchers: arg(args, "watchers", 100),
    regs: arg(args, "regs", 5000),
    concurrency: arg(args, "concurrency", 64),
    channels: arg(args, "channels", 4),
  };
  console.log(`registry bench: ${JSON.stringify(o)}`);
  // --stores memory,etcd,k8s (default all that are installed)
  const si = args.indexOf("--stores");
  const stores = si >= 0 ? args[si + 1]!.split(",") : ["memory", "etcd", "k8s"];
  const results = stores.includes("memory") ? await benchStore("memory", "memory", o) : [];
  if (!stores.includes("etcd")) console.log("etcd cases not asked for");
  else if (existsSync("/usr/bin/etcd")) {
    let etcd: EtcdProcess | undefined;
    try {
      etcd = await startEtcd();
      results.push(...(await benchStore("etcd", `etcd://${etcd.hostPort}/bench`, o)));
    } finally {
      await etcd?.stop();
    }
  } else console.log("etcd not installed: etcd cases skipped");
  const skipK8s = stores.includes("k8s") ? apiServerSkip() : "not asked for";
  if (!skipK8s) {
    let api: ApiServer | undefined;
    try {
      api = await startApiServer();
      const k8s = await benchStore("k8s", "k8s:bench", o, { kubeconfig: api.kubeconfig, rawStore: "k8s:bench-raw" });
      results.push(...k8s);
      for (const c of ["register (reg/s)", "fanout p99 (ms)"]) {
        const a = results.find((r) => r.case === `k8s/${c}`)?.ours;
        const b = results.find((r) => r.case === `etcd/${c}`)?.ours;
        if (a && b)
          results.push({
            case: `k8s-vs-etcd/${c}`,
            ours: a,
            baseline: b,
            ratio: c.startsWith("register") ? a / b : b / a,
            note: "k8s store (custom resources via kube-apiserver) vs etcd store, same run",
          });
      }
    } finally {
      await api?.stop();
    }
  } else console.log(`k8s cases skipped: ${skipK8s}`);
  const report = writeResults("registry", {
    unit: "mixed: reg/s for register, ms for find/fanout (see case names)",
    higherIsBetter: true,
    results,
  });
  const get = (c: string) => report.results.find((r) => r.case === c)?.ours ?? NaN;
  console.log(
    `\ngoals: memory ${get("memory/register (reg/s)").toFixed(0)} reg/s (≥ 5000), etcd ${get("etcd/register (reg/s)").toFixed(0)} reg/s (≥ 1000), ` +
      `fan-out p99 memory ${get("memory/fanout p99 (ms)").toFixed(1)} ms / etcd ${get("etcd/fanout p99 (ms)").toFixed(1)} ms (≤ 50)`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await run(process.argv.slice(2));
