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
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Netns } from "../src/datapath/index.js";
import { createMesh, type Mesh } from "../src/mesh/index.js";
import { percentile, type CaseResult, writeResults } from "./lib.js";
import { sleep, uniq } from "./e2e-cases/common.js";
import { latency } from "./e2e-cases/latency.js";
import { throughput } from "./e2e-cases/throughput.js";

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
