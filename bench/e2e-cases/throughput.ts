/** bench/e2e iperf cases: TCP through the mesh per mechanism vs the same link kind made by hand (see bench/e2e.ts). */
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPair, Netns, WireguardDevice } from "../../src/datapath/index.js";
import { createMesh } from "../../src/mesh/index.js";
import { type CaseResult } from "../lib.js";
import { exec, sleep, uniq, withNetns } from "./common.js";

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

export async function throughput(): Promise<CaseResult[]> {
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
