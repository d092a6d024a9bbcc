/**
 * The mesh (src/mesh, what `nsm up` runs) with NSM_DATAPATH=vpp: real `nsm` processes in node
 * namespaces; each forwarder starts its own VPP 24.10 in its node netns with an af_packet uplink
 * on eth0. An NSC on the NSE's node (kernel↔kernel through VPP) and one on the other node (VXLAN
 * between the two VPPs) ping the NSE; stopping the NSCs removes their interfaces. Root only;
 * skipped when VPP is not installed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ping } from "../../src/datapath/testing/index.js";
import { marked, peerOf, testMesh } from "../helpers/workloads.js";
import { vppSkip } from "../helpers/vpp.js";

const skip = vppSkip;
if (skip) console.log(`# vpp-mesh: skipped: ${skip}`);

async function until(what: string, ms: number, ok: () => Promise<boolean> | boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`${what}: not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test(
  "vpp mesh: ping NSC→NSE through VPP on one node and over VXLAN between two nodes' VPPs",
  { skip, timeout: 90_000 },
  async (t) => {
    const m = await testMesh(t, "nsm-vmesh-", { nodes: 2, datapath: "vpp" });
    const nse = await m.startNse(1, { name: "nse", cidr: "172.16.1.100/30" });
    const [remote, local] = await Promise.all([
      m.startNsc(0, { name: "nsc-vx", services: ["kernel://icmp-responder/nsm-1"] }),
      m.startNsc(1, { name: "nsc-lo", services: ["kernel://icmp-responder/nsm-1"] }),
    ]);
    await Promise.all([remote, local].map((c) => c.waitFor(/connected to/, 40_000)));
    assert.deepEqual(await marked(remote.workload), [{ name: "nsm-1", kind: "veth" }]);
    assert.deepEqual(await marked(local.workload), [{ name: "nsm-1", kind: "veth" }]);
    await Promise.all([remote, local].map(async (c) => ping(c.workload, await peerOf(c.workload), 2, 10)));
    await Promise.all([remote, local].map((c) => c.stop()));
    for (const ns of [remote.workload, local.workload, nse.workload])
      await until(`interfaces gone in ${ns}`, 15_000, async () => (await marked(ns)).length === 0);
  },
);
