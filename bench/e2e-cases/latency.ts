/** bench/e2e latency cases: Request→ready, sequential and concurrent, vs the same plumbing without a control plane (see bench/e2e.ts). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kernel } from "../../src/api/index.js";
import { kernelBackend } from "../../src/forwarder/backends/kernel/index.js";
import { Netns } from "../../src/datapath/index.js";
import { percentile, type CaseResult } from "../lib.js";
import { startMesh } from "../lib-mesh.js";
import { uniq, withNetns } from "./common.js";

// ---- latency ----------------------------------------------------------------------------------

export async function latency(): Promise<CaseResult[]> {
  const nscNs = uniq(),
    nseNs = uniq(),
    bA = uniq(),
    bB = uniq();
  const dir = mkdtempSync(join(tmpdir(), "nsm-bench-e2e-"));
  const out: CaseResult[] = [];
  try {
    await withNetns([nscNs, nseNs, bA, bB], async () => {
      const mesh = await startMesh({
        dir,
        backend: () => kernelBackend({ stateDir: join(dir, "fwd") }),
        service: "icmp",
        cidrs: ["172.16.0.0/20"],
        nscNetns: nscNs,
        nseNetns: nseNs,
      });
      const backend = mesh.backend;
      // the datapath's share of each Request: the backend's apply, timed from outside, by client ifname
      const applyAt = new Map<string, { start: bigint; end: bigint }>();
      const apply = backend.apply.bind(backend);
      backend.apply = async (x, c) => {
        const start = process.hrtime.bigint();
        await apply(x, c);
        applyAt.set(kernel.ifnameOf(x.incoming.mechanism!) ?? x.id, { start, end: process.hrtime.bigint() });
      };
      const client = Netns.open({ name: nscNs });
      try {
        let k = 0;
        const ms = (a: bigint, b: bigint) => Number(b - a) / 1e6;
        const one = async () => {
          const i = k++;
          const name = `nsm-${i}`;
          const t = process.hrtime.bigint();
          const conn = await mesh.request(name, `nsc-${i}`);
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
          for (const c of conns) await mesh.close(c);
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
          await mesh.close(c);
          churnR.push(await one());
        }
        phaseLine("churn-100", churnR);
        // after a burst of Closes (e.g. 50 clients healing away from a dead NSE): 50 connections
        // closed at once, then 20 sequential Requests while their deletes are still running
        const closing = churnR.slice(0, 50).map((r) => r.conn);
        await Promise.all(closing.map((c) => mesh.close(c)));
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
        await mesh.stop(); // the forwarder closes the backend, which waits for its deletes
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
