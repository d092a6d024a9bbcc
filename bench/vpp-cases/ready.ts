/**
 * bench/vpp Request→ready: sequential Requests through an in-process nsmgr, forwarder and NSE
 * (unix sockets), each timed until the NSC's interface has its address, with the VPP backend
 * (VPP in its own node netns, veth + af_packet + l3xc per connection) vs the kernel backend
 * (one veth) in the same run; p50 and p99 ms, lower is better (ratio > 1 = VPP faster).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kernel } from "../../src/api/index.js";
import { Netns } from "../../src/datapath/index.js";
import type { DatapathBackend } from "../../src/forwarder/backend.js";
import { kernelBackend } from "../../src/forwarder/backends/kernel/index.js";
import { vppBackend } from "../../src/forwarder/backends/vpp/index.js";
import { uniq, withNetns } from "../e2e-cases/common.js";
import { percentile, type CaseResult } from "../lib.js";
import { startMesh } from "../lib-mesh.js";

async function run(kind: "kernel" | "vpp", n: number): Promise<number[]> {
  const [nscNs, nseNs, node] = [uniq(), uniq(), uniq()];
  const dir = mkdtempSync(join(tmpdir(), `nsm-bench-vpp-${kind}-`));
  try {
    return await withNetns([nscNs, nseNs, node], async () => {
      const mesh = await startMesh({
        dir,
        backend: (): Promise<DatapathBackend> =>
          kind === "vpp"
            ? vppBackend({ runDir: join(dir, "vpp"), netns: `/run/netns/${node}` })
            : kernelBackend({ stateDir: join(dir, "fwd") }),
        service: "icmp",
        cidrs: ["172.16.0.0/20"],
        payload: "IP",
        nscNetns: nscNs,
        nseNetns: nseNs,
      });
      const client = Netns.open({ name: nscNs });
      const out: number[] = [];
      try {
        const conns = [];
        for (let i = 0; i < n + 5; i++) {
          const name = `nsm-${i}`;
          const t = process.hrtime.bigint();
          const conn = await mesh.request(name, `nsc-${i}`);
          const addrs = await client.addrs({ link: name, family: 4 });
          if (!addrs.length || kernel.ifnameOf(conn) !== name) throw new Error(`${name}: not ready after Request`);
          if (i >= 5) out.push(Number(process.hrtime.bigint() - t) / 1e6);
          conns.push(conn);
        }
        for (const c of conns) await mesh.close(c);
      } finally {
        client.close();
        await mesh.stop();
      }
      return out;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function ready(n = 50): Promise<CaseResult[]> {
  const v = await run("vpp", n);
  const k = await run("kernel", n);
  const note = "ms, lower is better; baseline: the kernel datapath (one veth)";
  return [50, 99].map((p) => {
    const ours = percentile(v, p),
      baseline = percentile(k, p);
    return { case: `request→ready p${p} (vpp vs kernel)`, ours, baseline, ratio: baseline / ours, note };
  });
}
