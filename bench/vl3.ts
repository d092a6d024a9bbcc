/**
 * bench/vl3 — the vL3 network with real processes (root).
 * `npm run bench -- vl3 [join|iperf] [kernel|vpp]` (default: both cases on both datapaths,
 * NSM_VL3_DATAPATH; the VPP datapath needs VPP in /opt/vpp)
 *
 * - join: a mesh of 2 nodes, an IPAM service and a vL3 endpoint per node, 3 clients on both
 *   endpoints; a new client is started and the figure is the time from its start until it
 *   pings every other client (process start, Request through both nodes, addresses, routes).
 *   3 runs, median. No baseline.
 * - iperf: iperf3 TCP 3 s between two clients on different endpoints (client → endpoint →
 *   endpoint → client), against the same shape made by hand in the same run: four namespaces
 *   c1 — r1 — r2 — c2 joined by veths, forwarding on in r1 and r2, static routes ("plain routed
 *   namespaces"). On the VPP datapath the forwarders carry IP payload over VXLAN
 *   (NSM_REMOTE_MECHANISMS=VXLAN,WIREGUARD; docs/vl3.md says why).
 *
 * Writes bench/results/vl3.json (+ .svg). Units differ per case (named in `note`).
 */
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Netns } from "../src/datapath/index.js";
import { createMesh, type Mesh } from "../src/mesh/index.js";
import { median, type CaseResult, writeResults } from "./lib.js";
import { exec, sleep, uniq, withNetns } from "./e2e-cases/common.js";

async function addressOf(netns: string): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      const { stdout } = await exec("ip", ["-n", netns, "-j", "-4", "addr", "show", "dev", "nsm-1"]);
      const a = (JSON.parse(stdout) as { addr_info: { local: string }[] }[])[0]?.addr_info[0]?.local;
      if (a) return a;
    } catch {
      /* not there yet */
    }
    if (i > 600) throw new Error(`${netns}: no address on nsm-1`);
    await sleep(50);
  }
}

async function reaches(netns: string, addr: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await exec("ip", ["netns", "exec", netns, "ping", "-n", "-c", "1", "-W", "1", addr]);
      return;
    } catch (e) {
      if (i > 300) throw e;
      await sleep(20);
    }
  }
}

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
        await sleep(50);
      }
    }
  } finally {
    srv.kill();
  }
}

/** c1 — r1 — r2 — c2, static routes: the same hops as client → endpoint → endpoint → client */
async function routedBaseline(): Promise<number> {
  const [c1, r1, r2, c2] = [uniq(), uniq(), uniq(), uniq()];
  return withNetns([c1, r1, r2, c2], async () => {
    const ns = [c1, r1, r2, c2].map((name) => Netns.open({ name }));
    try {
      const [n1, n2, n3, n4] = ns as [Netns, Netns, Netns, Netns];
      const veth = (a: Netns, b: Netns, name: string) =>
        a
          .batch()
          .linkAdd({ kind: "veth", attrs: { name, up: true }, peer: { name, netns: b, up: true } })
          .commit();
      await veth(n1, n2, "a");
      await veth(n2, n3, "b");
      await veth(n3, n4, "c");
      await n1
        .batch()
        .addrAdd({ link: "a", cidr: "10.20.1.2/24" })
        .routeAdd({ dst: "0.0.0.0/0", via: "10.20.1.1" })
        .commit();
      await n2
        .batch()
        .addrAdd({ link: "a", cidr: "10.20.1.1/24" })
        .addrAdd({ link: "b", cidr: "10.20.2.1/24" })
        .routeAdd({ dst: "10.20.3.0/24", via: "10.20.2.2" })
        .commit();
      await n3
        .batch()
        .addrAdd({ link: "b", cidr: "10.20.2.2/24" })
        .addrAdd({ link: "c", cidr: "10.20.3.1/24" })
        .routeAdd({ dst: "10.20.1.0/24", via: "10.20.2.1" })
        .commit();
      await n4
        .batch()
        .addrAdd({ link: "c", cidr: "10.20.3.2/24" })
        .routeAdd({ dst: "0.0.0.0/0", via: "10.20.3.1" })
        .commit();
      for (const r of [r1, r2]) await exec("ip", ["netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
      await reaches(c1, "10.20.3.2");
      return await iperf(c2, "10.20.3.2", c1);
    } finally {
      for (const n of ns) n.close();
    }
  });
}

async function vl3Mesh(
  datapath: Datapath,
): Promise<{ mesh: Mesh; clients: { workload: string; addr: string; nse: string }[] }> {
  const env = { NSM_VL3_DATAPATH: datapath };
  const id = uniq();
  const mesh = await createMesh({
    id,
    dir: mkdtempSync(join(tmpdir(), `nsm-bench-${id}-`)),
    nodes: 2,
    // the VPP datapath wants VXLAN between nodes: TCP over a wireguard-go tun crawls (docs/vl3.md)
    ...(datapath === "vpp"
      ? {
          envFor: (n: string) =>
            n.startsWith("forwarder-") ? { NSM_REMOTE_MECHANISMS: "VXLAN,WIREGUARD" } : undefined,
        }
      : {}),
  });
  try {
    const ipam = await mesh.startIpam({ prefix: "172.16.0.0/16" });
    await mesh.startVl3Nse(0, { name: "vl3-a", prefixServerUrl: ipam.url, env });
    const b = await mesh.startVl3Nse(1, { name: "vl3-b", prefixServerUrl: ipam.url, env });
    await b.waitFor(/linked to peer/, 30_000);
    const clients = [];
    // node 0's round robin puts consecutive clients on alternate endpoints
    for (const [i, node] of [0, 0, 1].entries()) {
      const c = await mesh.startNsc(node, { name: `nsc-${i}`, services: ["kernel://vl3/nsm-1"] });
      const line = await c.waitFor(/connected to/, 30_000);
      clients.push({ workload: c.workload, addr: await addressOf(c.workload), nse: /vl3-[ab]/.exec(line)![0] });
    }
    return { mesh, clients };
  } catch (e) {
    await mesh.close();
    throw e;
  }
}

type Datapath = "kernel" | "vpp";
const DATAPATHS: readonly Datapath[] = ["kernel", "vpp"];

export async function run(args: string[]): Promise<void> {
  const dps = DATAPATHS.filter((d) => args.includes(d));
  const rest = args.filter((a) => !DATAPATHS.includes(a as Datapath));
  const want = new Set(rest.length ? rest : ["join", "iperf"]);
  const results: CaseResult[] = [];
  let baseline: number | undefined;
  for (const dp of dps.length ? dps : DATAPATHS) {
    // the kernel datapath keeps the case names it always had
    const tag = dp === "kernel" ? "" : ` [${dp} datapath]`;
    const { mesh, clients } = await vl3Mesh(dp);
    try {
      for (const c of clients) for (const d of clients) if (c !== d) await reaches(c.workload, d.addr);
      if (want.has("join")) {
        const ms: number[] = [];
        for (let r = 0; r < 3; r++) {
          const t0 = Date.now();
          const c = await mesh.startNsc(1, { name: `join-${r}`, services: ["kernel://vl3/nsm-1"] });
          await addressOf(c.workload);
          await Promise.all(clients.map((d) => reaches(c.workload, d.addr)));
          ms.push(Date.now() - t0);
          await c.stop();
        }
        results.push({
          case: `join/new client reaches all 3 others${tag}`,
          ours: median(ms),
          note: "ms, median of 3; lower is better; no baseline",
        });
      }
      if (want.has("iperf")) {
        const [x, y] = [clients[0]!, clients.find((c) => c.nse !== clients[0]!.nse) ?? clients[1]!];
        const ours = await iperf(y.workload, y.addr, x.workload);
        baseline ??= await routedBaseline();
        results.push({
          case: `iperf/client ${x.nse} → client ${y.nse}${tag}`,
          ours,
          baseline,
          ratio: ours / baseline,
          note: `Gbit/s, higher is better; baseline: c1—r1—r2—c2 routed namespaces over veths; ours crosses nodes ${dp === "vpp" ? "over VXLAN (NSM_REMOTE_MECHANISMS) and routes in each endpoint's VPP (af_packet)" : "over wireguard-go (payload IP)"}`,
        });
      }
    } finally {
      await mesh.close();
    }
  }
  writeResults("vl3", { unit: "mixed (see notes)", higherIsBetter: true, results });
}
