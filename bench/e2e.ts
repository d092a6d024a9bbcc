/**
 * bench/e2e — the kernel forwarder end to end (root). `npm run bench -- e2e [latency|heal|iperf]`
 *
 * - latency/*: Request→ready (the call returned and the interface is up with its address in the
 *   client netns, checked inside the timed window) over 200 sequential and 50 concurrent
 *   connections, local kernel, components in this process (nsmgr, kernel forwarder, NSE) over
 *   unix sockets. Baseline: the same veth + addresses made directly with nsm-ts/datapath (no
 *   control plane). Goal p50 ≤ 5 ms, p99 ≤ 20 ms.
 * - heal/*: the mesh with real processes; two NSEs with the same /31 on the client's node; a
 *   10 ms ping stream from the client; the NSE in use is SIGKILLed; the figure is the longest gap
 *   between replies. Goal ≤ 1 s (no baseline).
 * - iperf/*: iperf3 TCP 3 s, NSC→NSE through the mesh per mechanism (local veth, vxlan,
 *   wireguard-go), against the same link kind set up by hand between two namespaces in the
 *   same run. Goal ≥ 0.9× baseline.
 *
 * Writes bench/results/e2e.json (+ .svg). Units differ per case (named in `note`); every ratio
 * is > 1 when ours is better.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { kernel } from "../src/api/index.js";
import { newCtx } from "../src/core/index.js";
import { kernelBackend } from "../src/forwarder/backends/kernel/index.js";
import { generateKeyPair, Netns, WireguardDevice } from "../src/datapath/index.js";
import { createMesh, type Mesh } from "../src/mesh/index.js";
import { createClient, createEndpoint, createForwarder, createNsmgr } from "../src/networkservice/components.js";
import { parseNsUrl, requestFromNsUrl } from "../src/networkservice/utils/nsurl.js";
import { percentile, type CaseResult, writeResults } from "./lib.js";

const exec = promisify(execFile);
const ipc = (...a: string[]) => exec("ip", a);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;
const uniq = () => `b-${process.pid}-${seq++}`;

async function withNetns<T>(names: string[], fn: () => Promise<T>): Promise<T> {
  for (const n of names) await ipc("netns", "add", n);
  try {
    return await fn();
  } finally {
    for (const n of names) await ipc("netns", "del", n).catch(() => undefined);
  }
}

// ---- latency ----------------------------------------------------------------------------------

async function latency(): Promise<CaseResult[]> {
  const nscNs = uniq(),
    nseNs = uniq(),
    bA = uniq(),
    bB = uniq();
  const dir = mkdtempSync(join(tmpdir(), "nsm-bench-e2e-"));
  const out: CaseResult[] = [];
  try {
    await withNetns([nscNs, nseNs, bA, bB], async () => {
      const life = new AbortController();
      const sock = (n: string) => `unix://${join(dir, `${n}.sock`)}`;
      const common = { signal: life.signal, dialTimeoutMs: 2000 };
      const mgr = await createNsmgr({ ...common, name: "nsmgr", listenOn: [sock("nsmgr")] });
      const backend = await kernelBackend({ stateDir: join(dir, "fwd") });
      // the datapath's share of each Request: the backend's apply, timed from outside, by client ifname
      const applyAt = new Map<string, { start: bigint; end: bigint }>();
      const apply = backend.apply.bind(backend);
      backend.apply = async (x, c) => {
        const start = process.hrtime.bigint();
        await apply(x, c);
        applyAt.set(kernel.ifnameOf(x.incoming.mechanism!) ?? x.id, { start, end: process.hrtime.bigint() });
      };
      const fwd = await createForwarder({
        ...common,
        name: "fwd",
        listenOn: [sock("fwd")],
        nsmgrUrl: mgr.url,
        backend,
      });
      const nse = await createEndpoint({
        ...common,
        name: "nse",
        listenOn: [sock("nse")],
        nsmgrUrl: mgr.url,
        services: ["icmp"],
        cidrs: ["172.16.0.0/20"],
        netnsUrl: `file:///run/netns/${nseNs}`,
      });
      const cl = await createClient({
        ...common,
        name: "nsc",
        nsmgrUrl: mgr.url,
        netnsUrl: `file:///run/netns/${nscNs}`,
        heal: false,
        refresh: false,
      });
      const client = Netns.open({ name: nscNs });
      try {
        let k = 0;
        const ms = (a: bigint, b: bigint) => Number(b - a) / 1e6;
        const one = async () => {
          const i = k++;
          const name = `nsm-${i}`;
          const t = process.hrtime.bigint();
          const conn = await cl.client.request(
            requestFromNsUrl(parseNsUrl(`kernel://icmp/${name}`), `nsc-${i}`),
            newCtx({ timeoutMs: 10_000 }),
          );
          const replied = process.hrtime.bigint();
          const addrs = await client.addrs({ link: name, family: 4 });
          const done = process.hrtime.bigint();
          if (!addrs.length || kernel.ifnameOf(conn) !== name) throw new Error(`${name}: not ready after Request`);
          const a = applyAt.get(name);
          // phases: control plane up to the forwarder's apply, apply, back to the client, the readiness check
          const phases = a
            ? { before: ms(t, a.start), apply: ms(a.start, a.end), after: ms(a.end, replied), check: ms(replied, done) }
            : undefined;
          return { ms: ms(t, done), conn, phases };
        };
        type One = Awaited<ReturnType<typeof one>>;
        const phaseLine = (label: string, rs: One[]) => {
          const ph = rs.map((r) => r.phases!).filter(Boolean);
          const f = (k: keyof NonNullable<One["phases"]>) =>
            `${k} ${percentile(
              ph.map((p) => p[k]),
              50,
            ).toFixed(2)}/${percentile(
              ph.map((p) => p[k]),
              99,
            ).toFixed(2)}`;
          console.log(`${label} phases p50/p99 ms: ${f("before")}, ${f("apply")}, ${f("after")}, ${f("check")}`);
        };
        const closeAll = async (conns: Awaited<ReturnType<typeof one>>["conn"][]) => {
          for (const c of conns) await cl.client.close(c, newCtx({ timeoutMs: 10_000 }));
          await backend.idle();
        };
        // warm up
        await closeAll((await Promise.all(Array.from({ length: 5 }, one))).map((r) => r.conn));
        const seqR: One[] = [];
        for (let i = 0; i < 200; i++) seqR.push(await one());
        const seqApply = seqR.map((r) => r.phases?.apply ?? NaN);
        phaseLine("sequential-200", seqR);
        await closeAll(seqR.map((r) => r.conn));
        // is the concurrent case bound by this process' one thread (CPU) or waiting on something?
        const elu0 = performance.eventLoopUtilization(),
          cpu0 = process.cpuUsage(),
          w0 = performance.now();
        const conR = await Promise.all(Array.from({ length: 50 }, one));
        const elu = performance.eventLoopUtilization(elu0),
          cpu = process.cpuUsage(cpu0),
          wall = performance.now() - w0;
        phaseLine("concurrent-50", conR);
        console.log(
          `concurrent-50: ${wall.toFixed(0)} ms wall, event loop busy ${(elu.utilization * 100).toFixed(0)}%, process CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms (${((cpu.user + cpu.system) / 1000 / 50).toFixed(2)} ms per Request)`,
        );
        await closeAll(conR.map((r) => r.conn));
        // churn: sequential Requests, each right after an older connection's Close (whose deletes
        // run in the background: a veth delete waits ~20 ms for an RCU grace period)
        const old = (await Promise.all(Array.from({ length: 100 }, one))).map((r) => r.conn);
        const churnR: One[] = [];
        for (const c of old) {
          await cl.client.close(c, newCtx({ timeoutMs: 10_000 }));
          churnR.push(await one());
        }
        phaseLine("churn-100", churnR);
        // after a burst of Closes (e.g. 50 clients healing away from a dead NSE): 50 connections
        // closed at once, then 20 sequential Requests while their deletes are still running
        const closing = churnR.slice(0, 50).map((r) => r.conn);
        await Promise.all(closing.map((c) => cl.client.close(c, newCtx({ timeoutMs: 10_000 }))));
        const burstR: One[] = [];
        for (let i = 0; i < 20; i++) burstR.push(await one());
        phaseLine("after-close-burst-20", burstR);
        await closeAll([...churnR.slice(50).map((r) => r.conn), ...burstR.map((r) => r.conn)]);

        // baseline: the same plumbing straight through nsm-ts/datapath
        const a = Netns.open({ name: bA }),
          b = Netns.open({ name: bB });
        const base: number[] = [];
        try {
          for (let i = 0; i < 200; i++) {
            const t = process.hrtime.bigint();
            await a
              .batch()
              .linkAdd({
                kind: "veth",
                attrs: { name: `v${i}`, up: true },
                peer: { name: `p${i}`, netns: b, up: true },
              })
              .addrAdd({ link: `v${i}`, cidr: `10.9.${i}.1/32` })
              .routeReplace({ dst: `10.9.${i}.2/32`, dev: `v${i}` })
              .commit();
            await b
              .batch()
              .addrAdd({ link: `p${i}`, cidr: `10.9.${i}.2/32` })
              .routeReplace({ dst: `10.9.${i}.1/32`, dev: `p${i}` })
              .commit();
            await a.addrs({ link: `v${i}`, family: 4 });
            base.push(Number(process.hrtime.bigint() - t) / 1e6);
          }
        } finally {
          a.close();
          b.close();
        }
        const s = seqR.map((r) => r.ms),
          c = conR.map((r) => r.ms);
        const note = "ms, lower is better";
        out.push({
          case: "latency/sequential-200 p50",
          ours: percentile(s, 50),
          baseline: percentile(base, 50),
          note: `${note}; goal ≤ 5`,
        });
        out.push({
          case: "latency/sequential-200 p99",
          ours: percentile(s, 99),
          baseline: percentile(base, 99),
          note: `${note}; goal ≤ 20`,
        });
        out.push({
          case: "latency/sequential-200 datapath share p50",
          ours: percentile(seqApply, 50),
          baseline: percentile(base, 50),
          note: `${note}; the kernel backend's apply inside each Request`,
        });
        out.push({
          case: "latency/concurrent-50 p50",
          ours: percentile(c, 50),
          baseline: null,
          note: `${note}; each of 50 at once; goal ≤ 5`,
        });
        out.push({
          case: "latency/concurrent-50 p99",
          ours: percentile(c, 99),
          baseline: null,
          note: `${note}; goal ≤ 20`,
        });
        const ch = churnR.map((r) => r.ms);
        out.push({
          case: "latency/churn-100 p50",
          ours: percentile(ch, 50),
          baseline: percentile(base, 50),
          note: `${note}; sequential, each right after another connection's Close`,
        });
        out.push({ case: "latency/churn-100 p99", ours: percentile(ch, 99), baseline: percentile(base, 99), note });
        const bu = burstR.map((r) => r.ms);
        out.push({
          case: "latency/after-close-burst-20 p50",
          ours: percentile(bu, 50),
          baseline: percentile(base, 50),
          note: `${note}; sequential, right after 50 Closes at once`,
        });
        out.push({
          case: "latency/after-close-burst-20 max",
          ours: Math.max(...bu),
          baseline: percentile(base, 99),
          note: `${note}; baseline: p99`,
        });
      } finally {
        client.close();
        await cl.close();
        await nse.close();
        await fwd.close();
        await backend.idle();
        await mgr.close();
        life.abort();
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

// ---- heal -------------------------------------------------------------------------------------

async function heal(runs = 3): Promise<CaseResult[]> {
  const id = uniq();
  const mesh = await createMesh({ id, dir: mkdtempSync(join(tmpdir(), `nsm-bench-${id}-`)), nodes: 1 });
  const gaps: number[] = [];
  try {
    let n = 0;
    const nses = new Map<string, Awaited<ReturnType<Mesh["startNse"]>>>();
    for (let i = 0; i < 2; i++) {
      const name = `nse-${n++}`;
      nses.set(name, await mesh.startNse(0, { name, cidr: "172.16.1.100/31" }));
    }
    const nsc = await mesh.startNsc(0, { name: "nsc", services: ["kernel://icmp-responder/nsm-1"] });
    await nsc.waitFor(/connected to/, 30_000);
    for (let r = 0; r < runs; r++) {
      const ping = spawn(
        "ip",
        ["netns", "exec", nsc.workload, "ping", "-n", "-D", "-i", "0.01", "-W", "1", "172.16.1.100"],
        { stdio: ["ignore", "pipe", "ignore"] },
      );
      const stamps: number[] = [];
      let buf = "";
      ping.stdout.on("data", (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const l = buf.slice(0, i);
          buf = buf.slice(i + 1);
          const m = /^\[(\d+\.\d+)\].*bytes from/.exec(l);
          if (m) stamps.push(Number(m[1]) * 1000);
        }
      });
      while (stamps.length < 50) await sleep(20);
      // the NSE in use is the one named in the client's latest "connected"/"restored" state: find it by its interface
      let victim: string | undefined;
      for (const [name, p] of nses) {
        const ns = Netns.open({ name: p.workload });
        const has = (await ns.links()).some((l) => l.attrs.alias?.startsWith("nsm:"));
        ns.close();
        if (has) victim = name;
      }
      const killedAt = Date.now();
      await nses.get(victim!)!.stop("SIGKILL");
      nses.delete(victim!);
      const before = stamps.length;
      while (!(stamps.length > before + 50 && stamps[stamps.length - 1]! > killedAt) && Date.now() - killedAt < 20_000)
        await sleep(20);
      ping.kill("SIGINT");
      let gap = 0;
      for (let i = 1; i < stamps.length; i++) gap = Math.max(gap, stamps[i]! - stamps[i - 1]!);
      gaps.push(gap);
      console.log(`heal run ${r + 1}: killed ${victim}, longest gap ${gap.toFixed(0)} ms`);
      const name = `nse-${n++}`;
      nses.set(name, await mesh.startNse(0, { name, cidr: "172.16.1.100/31" }));
    }
  } finally {
    await mesh.close();
  }
  return [
    {
      case: "heal/nse-killed gap (median of 3)",
      ours: percentile(gaps, 50),
      baseline: null,
      note: `ms, lower is better; max ${Math.max(...gaps).toFixed(0)}; goal ≤ 1000`,
    },
  ];
}

// ---- iperf ------------------------------------------------------------------------------------

async function iperf(serverNs: string, serverIp: string, clientNs: string, seconds = 3): Promise<number> {
  const srv = spawn("ip", ["netns", "exec", serverNs, "iperf3", "-s", "-1", "-B", serverIp], { stdio: "ignore" });
  try {
    for (let i = 0; ; i++) {
      try {
        const r = await exec("ip", ["netns", "exec", clientNs, "iperf3", "-J", "-c", serverIp, "-t", String(seconds)], {
          maxBuffer: 1 << 24,
        });
        const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
        return j.end.sum_received.bits_per_second / 1e9;
      } catch (e) {
        if (i > 40) throw e;
        await sleep(50); // the server is not listening yet
      }
    }
  } finally {
    srv.kill();
  }
}

async function throughput(): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  const note = "Gbit/s, higher is better; goal ≥ 0.9× baseline";
  // baselines by hand: two namespaces joined by a veth; vxlan and wireguard-go over it
  const base: Record<string, number> = {};
  const A = uniq(),
    B = uniq();
  await withNetns([A, B], async () => {
    const a = Netns.open({ name: A }),
      b = Netns.open({ name: B });
    try {
      await a
        .batch()
        .linkAdd({ kind: "veth", attrs: { name: "u", up: true }, peer: { name: "u", netns: b, up: true } })
        .addrAdd({ link: "u", cidr: "198.19.0.1/24" })
        .commit();
      await b.batch().addrAdd({ link: "u", cidr: "198.19.0.2/24" }).commit();
      base.veth = await iperf(B, "198.19.0.2", A);
      await a
        .batch()
        .linkAdd({
          kind: "vxlan",
          attrs: { name: "vx", up: true, mtu: 1450 },
          vni: 42,
          local: "198.19.0.1",
          remote: "198.19.0.2",
        })
        .addrAdd({ link: "vx", cidr: "10.10.0.1/24" })
        .commit();
      await b
        .batch()
        .linkAdd({
          kind: "vxlan",
          attrs: { name: "vx", up: true, mtu: 1450 },
          vni: 42,
          local: "198.19.0.2",
          remote: "198.19.0.1",
        })
        .addrAdd({ link: "vx", cidr: "10.10.0.2/24" })
        .commit();
      base.vxlan = await iperf(B, "10.10.0.2", A);
      const ka = generateKeyPair(),
        kb = generateKeyPair();
      const wa = await WireguardDevice.start({ netns: a, name: `${A.slice(-9)}wa` });
      const wb = await WireguardDevice.start({ netns: b, name: `${B.slice(-9)}wb` });
      try {
        await wb.configure({
          privateKey: kb.privateKey,
          listenPort: 51820,
          peers: [{ publicKey: ka.publicKey, endpoint: "198.19.0.1:51820", allowedIps: ["0.0.0.0/0"] }],
        });
        await wa.configure({
          privateKey: ka.privateKey,
          listenPort: 51820,
          peers: [
            {
              publicKey: kb.publicKey,
              endpoint: "198.19.0.2:51820",
              allowedIps: ["0.0.0.0/0"],
              persistentKeepalive: 10,
            },
          ],
        });
        await a
          .batch()
          .addrAdd({ link: wa.name, cidr: "10.11.0.1/24" })
          .linkSet(wa.name, { up: true, mtu: 1420 })
          .commit();
        await b
          .batch()
          .addrAdd({ link: wb.name, cidr: "10.11.0.2/24" })
          .linkSet(wb.name, { up: true, mtu: 1420 })
          .commit();
        await wa.waitHandshake(kb.publicKey, 10_000);
        base.wireguard = await iperf(B, "10.11.0.2", A);
      } finally {
        await wa.stop();
        await wb.stop();
      }
    } finally {
      a.close();
      b.close();
    }
  });

  const id = uniq();
  const mesh = await createMesh({ id, dir: mkdtempSync(join(tmpdir(), `nsm-bench-${id}-`)), nodes: 2 });
  try {
    const eth = await mesh.startNse(1, { name: "nse-eth", cidr: "172.16.1.96/28" });
    const ipn = await mesh.startNse(1, {
      name: "nse-ip",
      cidr: "172.16.2.96/28",
      services: ["icmp-ip"],
      payload: "IP",
    });
    const cases: [string, number, string, typeof eth][] = [
      ["veth", 1, "icmp-responder", eth],
      ["vxlan", 0, "icmp-responder", eth],
      ["wireguard", 0, "icmp-ip", ipn],
    ];
    for (const [kind, node, svc, nse] of cases) {
      const nsc = await mesh.startNsc(node, { name: `nsc-${kind}`, services: [`kernel://${svc}/nsm-1`] });
      await nsc.waitFor(/connected to/, 30_000);
      const ns = Netns.open({ name: nsc.workload });
      const peer = (await ns.routes({ family: 4, dev: "nsm-1" }))
        .find((r) => r.dst.endsWith("/32") && !r.via)!
        .dst.split("/")[0]!;
      ns.close();
      const g = await iperf(nse.workload, peer, nsc.workload);
      out.push({ case: `iperf/${kind}`, ours: g, baseline: base[kind]!, ratio: g / base[kind]!, note });
      await nsc.stop();
    }
  } finally {
    await mesh.close();
  }
  return out;
}

export async function run(args: string[]): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error("bench/e2e needs root (network namespaces)");
    process.exitCode = 1;
    return;
  }
  const pick = args[0] ?? "";
  const results: CaseResult[] = [];
  if (!pick || pick.startsWith("latency")) results.push(...(await latency()));
  if (!pick || pick.startsWith("heal")) results.push(...(await heal()));
  if (!pick || pick.startsWith("iperf")) results.push(...(await throughput()));
  writeResults("e2e", { unit: "ms or Gbit/s (see note)", higherIsBetter: false, results });
}

if (import.meta.url === `file://${process.argv[1]}`) await run(process.argv.slice(2));
