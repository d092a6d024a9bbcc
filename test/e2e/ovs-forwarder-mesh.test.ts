/**
 * The kernel forwarder's mesh scenarios (test/e2e/mesh.test.ts) with NSM_DATAPATH=ovs: real `nsm`
 * processes in node namespaces (src/mesh), a private Open vSwitch per node whose vswitchd runs in
 * the node netns with the node's eth0 attached to the bridge (scripts/ovs.sh). Asserts on the
 * workload interfaces, the OVS ports (`ovs-vsctl`) and ping. Root only.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { ping, rootSkip } from "../../src/datapath/testing/index.js";
import type { Mesh } from "../../src/mesh/index.js";
import { ovsAvailable } from "../helpers/ovs.js";
import { healAfterNseKill, marked, peerOf, testMesh } from "../helpers/workloads.js";

const skip = rootSkip || (!ovsAvailable() ? "openvswitch-switch not installed" : false);

const mesh = (t: TestContext): Promise<Mesh> => testMesh(t, "nsm-omesh-", { nodes: 2, datapath: "ovs" });

/** Ports of node i's bridge, as ovs-vsctl lists them. */
const ports = (m: Mesh, i: number): string[] =>
  execFileSync("ovs-vsctl", [`--db=unix:${m.state.ovsDirs![i]}/db.sock`, "--timeout=5", "list-ports", "br-nsm"], {
    encoding: "utf8",
  })
    .split("\n")
    .filter(Boolean)
    .sort();

async function until(what: string, ms: number, ok: () => Promise<boolean> | boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`${what}: not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test(
  "ovs mesh: ping NSC→NSE over a local veth pair and over vxlan between nodes; stopping the NSCs removes ports and interfaces",
  { skip, timeout: 60_000 },
  async (t) => {
    const m = await mesh(t);
    const nse = await m.startNse(1, { name: "nse", cidr: "172.16.1.100/30" });
    const [remote, local] = await Promise.all([
      m.startNsc(0, { name: "nsc-vx", services: ["kernel://icmp-responder/nsm-1"] }),
      m.startNsc(1, { name: "nsc-lo", services: ["kernel://icmp-responder/nsm-1"] }),
    ]);
    await Promise.all([remote, local].map((c) => c.waitFor(/connected to/, 30_000)));
    // every workload interface is one end of a veth; the other ends are OVS ports
    assert.deepEqual(await marked(remote.workload), [{ name: "nsm-1", kind: "veth" }]);
    assert.deepEqual(await marked(local.workload), [{ name: "nsm-1", kind: "veth" }]);
    assert.deepEqual(
      (await marked(nse.workload)).map((l) => l.kind),
      ["veth", "veth"],
    );
    const p0 = ports(m, 0),
      p1 = ports(m, 1);
    assert.deepEqual(
      p0.filter((p) => p !== "eth0").map((p) => p.replace(/-.*/, "")),
      ["tapsrc", "v1981802"],
    );
    assert.deepEqual(
      p1
        .filter((p) => p !== "eth0")
        .map((p) => p.replace(/-.*/, ""))
        .sort(),
      ["tapdst", "tapdst", "tapsrc", "v1981801"],
    );

    await Promise.all([remote, local].map(async (c) => ping(c.workload, await peerOf(c.workload), 2, 10)));

    await Promise.all([remote, local].map((c) => c.stop()));
    for (const ns of [remote.workload, local.workload, nse.workload]) {
      await until(`interfaces gone in ${ns}`, 10_000, async () => (await marked(ns)).length === 0);
    }
    await until("ports gone", 10_000, () => ports(m, 0).join() === "eth0" && ports(m, 1).join() === "eth0");
  },
);

test(
  "ovs mesh: NSE killed with 2 NSEs registered — the client heals to the other one and ping resumes",
  { skip, timeout: 60_000 },
  async (t) => {
    const m = await mesh(t);
    const { nsc, other } = await healAfterNseKill(m);
    assert.deepEqual(await marked(nsc.workload), [{ name: "nsm-1", kind: "veth" }]);
    assert.equal((await marked(other.workload)).length, 1);
    // the dead NSE's port is gone; the healed connection has its two
    await until("one connection's ports", 10_000, () => ports(m, 0).filter((p) => p !== "eth0").length === 2);
  },
);
