/**
 * The mesh with real processes in network namespaces (src/mesh): 2 nodes, registry, nsmgr and a
 * kernel forwarder per node; icmp-responder NSEs and nsc clients in workload namespaces.
 * Asserts on kernel state and ping. Root only.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { Netns } from "../../src/datapath/index.js";
import { ping, rootSkip } from "../../src/datapath/testing/index.js";
import type { Mesh } from "../../src/mesh/index.js";
import { healAfterNseKill, marked, peerOf, testMesh } from "../helpers/workloads.js";

const mesh = (t: TestContext, nodes = 2): Promise<Mesh> => testMesh(t, "nsm-mesh-", { nodes });

test(
  "mesh: ping NSC→NSE over local veth, remote vxlan and remote wireguard; stopping the NSC removes every interface",
  { skip: rootSkip, timeout: 90_000 },
  async (t) => {
    const m = await mesh(t);
    const eth = await m.startNse(1, { name: "nse-eth", cidr: "172.16.1.100/30", services: ["icmp-responder"] });
    const ip = await m.startNse(1, { name: "nse-ip", cidr: "172.16.2.100/31", services: ["icmp-ip"], payload: "IP" });
    const [remote, local, wg] = await Promise.all([
      m.startNsc(0, { name: "nsc-vx", services: ["kernel://icmp-responder/nsm-1"] }),
      m.startNsc(1, { name: "nsc-lo", services: ["kernel://icmp-responder/nsm-1"] }),
      m.startNsc(0, { name: "nsc-wg", services: ["kernel://icmp-ip/nsm-1"] }),
    ]);
    await Promise.all([remote, local, wg].map((c) => c.waitFor(/connected to/, 30_000)));

    assert.deepEqual(await marked(remote.workload), [{ name: "nsm-1", kind: "vxlan" }]);
    assert.deepEqual(await marked(local.workload), [{ name: "nsm-1", kind: "veth" }]);
    assert.deepEqual(await marked(wg.workload), [{ name: "nsm-1", kind: "tun" }]);
    // the NSE with ETHERNET payload has a veth (local client) and a vxlan (remote client); the IP one a tun
    assert.deepEqual((await marked(eth.workload)).map((l) => l.kind).sort(), ["veth", "vxlan"]);
    assert.deepEqual(
      (await marked(ip.workload)).map((l) => l.kind),
      ["tun"],
    );

    // each client pings the NSE's end of its pair
    await Promise.all([remote, local, wg].map(async (c) => ping(c.workload, await peerOf(c.workload), 2, 10)));
    // and the NSE can reach back (a client address is on its side's route)
    const nseNs = Netns.open({ name: eth.workload });
    const back = (await nseNs.routes({ family: 4 }))
      .filter((r) => r.dev && r.dst.endsWith("/32"))
      .map((r) => r.dst.split("/")[0]!);
    nseNs.close();
    assert.equal(back.length, 2, `routes in the NSE: ${back.join(", ")}`);
    await Promise.all(back.map((a) => ping(eth.workload, a, 1, 10)));

    // Close: the NSCs close their connections on SIGTERM; interfaces on both sides go
    await Promise.all([remote, local, wg].map((c) => c.stop()));
    const deadline = Date.now() + 10_000;
    for (const ns of [remote.workload, local.workload, wg.workload, eth.workload, ip.workload]) {
      while ((await marked(ns)).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(await marked(ns), [], `interfaces left in ${ns}`);
    }
  },
);

test(
  "mesh: NSE killed with 2 NSEs registered — the client heals to the other one and ping resumes",
  { skip: rootSkip, timeout: 90_000 },
  async (t) => {
    const { nsc, other } = await healAfterNseKill(await mesh(t));
    // only the healed connection's interface is left in the client
    assert.deepEqual(await marked(nsc.workload), [{ name: "nsm-1", kind: "veth" }]);
    assert.equal((await marked(other.workload)).length, 1);
  },
);

test(
  "mesh: forwarder killed and restarted — the connection comes back and no stale interface remains",
  { skip: rootSkip, timeout: 90_000 },
  async (t) => {
    const m = await mesh(t);
    const nse = await m.startNse(0, { name: "nse", cidr: "172.16.1.100/31" });
    const nsc = await m.startNsc(0, { name: "nsc", services: ["kernel://icmp-responder/nsm-1"] });
    await nsc.waitFor(/connected to/, 30_000);
    await ping(nsc.workload, "172.16.1.100", 1, 10);
    const before = (await Netns.open({ name: nsc.workload }).linkByName("nsm-1")).attrs.index;
    await m.procs.get("forwarder-0")!.stop("SIGKILL");
    const from = nsc.output().length;
    await m.startForwarder(0);
    await nsc.waitFor(/heal: connection restored/, 30_000, from);
    await ping(nsc.workload, "172.16.1.100", 1, 10);
    const nscLinks = await marked(nsc.workload);
    assert.deepEqual(nscLinks, [{ name: "nsm-1", kind: "veth" }]);
    assert.equal((await marked(nse.workload)).length, 1, "one interface in the NSE");
    void before;
  },
);
