/**
 * The VPP datapath backend in-process against a real VPP 24.10 running in a "node" netns:
 * nsmgr, forwarder (vpp backend), NSE and NSC as components of this process over unix sockets;
 * the NSC and the NSE live in fresh namespaces. Root only; skipped when VPP is not installed.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { kernel } from "../../src/api/index.js";
import { ping, sandbox as dpSandbox } from "../../src/datapath/testing/index.js";
import { vppBackend, type VppBackend } from "../../src/forwarder/backends/vpp/index.js";
import { createForwarder } from "../../src/networkservice/components.js";
import { VppClient } from "../../src/vpp/client.js";
import { harness, nsmgr, ours, pingUntil, workloads } from "../helpers/workloads.js";
import { startVpp, vppctl, vppSkip } from "../helpers/vpp.js";

const skip = vppSkip;
if (skip) console.log(`# vpp-forwarder: skipped: ${skip}`);

async function rig(t: TestContext, o: { cidr: string; payload: "IP" | "ETHERNET" }) {
  const sb = dpSandbox(t);
  const h = harness(sb, "nsm-vf-");
  const node = sb.netns();
  const vpp = await startVpp(t, undefined, `/run/netns/${node.name}`);
  const mgr = await nsmgr(h);
  const backend: VppBackend = await vppBackend({ apiSocket: vpp.apiSocket, netns: `/run/netns/${node.name}` });
  const fwd = await createForwarder({
    ...h.common,
    name: "fwd",
    listenOn: [h.sock("fwd")],
    nsmgrUrl: mgr.url,
    backend,
  });
  sb.cleanup.push("forwarder", () => fwd.close());
  const w = await workloads(h, { nsmgrUrl: mgr.url, cidr: o.cidr, payload: o.payload });
  const api = await VppClient.connect(vpp.apiSocket);
  sb.cleanup.push("vpp api", () => api.close());
  /** VPP interfaces that carry a tag (ours carry the connection id) */
  const tagged = async () => (await api.dump("sw_interface_dump", { sw_if_index: 0xffffffff })).filter((i) => i.tag);
  return { ...w, backend, api, tagged, vpp };
}

for (const payload of ["IP", "ETHERNET"] as const) {
  test(
    `vpp local ${payload}: NSC pings NSE through VPP (veth + af_packet, ${payload === "IP" ? "l3xc" : "l2 xconnect"}); metrics; Close leaves VPP clean`,
    { skip, timeout: 90_000 },
    async (t) => {
      const r = await rig(t, { cidr: payload === "IP" ? "172.16.5.100/31" : "172.16.6.100/31", payload });
      const [nse, nsc] = payload === "IP" ? ["172.16.5.100", "172.16.5.101"] : ["172.16.6.100", "172.16.6.101"];
      const conn = await r.request("nsc-0");
      assert.equal(kernel.ifnameOf(conn), "nsm-1");
      const link = await r.nsc.ns.linkByName("nsm-1");
      assert.equal(link.attrs.up, true);
      assert.deepEqual(
        (await r.nsc.ns.addrs({ link: "nsm-1", family: 4 })).map((a) => a.cidr),
        [`${nsc}/32`],
      );
      const mine = await r.tagged();
      assert.equal(mine.length, 2, "two af_packet interfaces");
      assert.ok(mine.every((i) => r.backend.records.has(i.tag) && i.flags & 1));
      const xc = vppctl(r.vpp, `show interface features ${mine[0]!.interface_name}`);
      if (payload === "IP") {
        assert.match(xc, /l3xc/);
        assert.match(vppctl(r.vpp, "show ip neighbors"), new RegExp(nsc.replace(/\./g, "\\.")));
      } else assert.match(xc, /XCONNECT/);
      await ping(r.nsc.name, nse, 3, 10);
      await ping(r.nse.name, nsc, 1, 5);

      // a refresh changes nothing and carries VPP's counters as path-segment metrics
      const again = await r.request("nsc-0", undefined, conn);
      assert.equal((await r.nsc.ns.linkByName("nsm-1")).attrs.index, link.attrs.index);
      const seg = again.path!.pathSegments.find((s) => s.name === "fwd");
      assert.ok(Number(seg?.metrics["server_rx_packets"]) >= 3, JSON.stringify(seg?.metrics));
      assert.ok(Number(seg?.metrics["client_tx_packets"]) >= 3, JSON.stringify(seg?.metrics));
      assert.match(seg?.metrics["server_interface"] ?? "", /^AF_PACKET\/host-vp[0-9a-f]{12}$/);

      await r.close(again);
      assert.deepEqual(await r.tagged(), [], "no VPP interface of ours");
      assert.doesNotMatch(vppctl(r.vpp, "show ip neighbors"), /172\.16/);
      assert.deepEqual(await ours(r.nsc.ns), []);
      assert.deepEqual(await ours(r.nse.ns), []);
      assert.equal(r.backend.records.size, 0);
    },
  );
}

test(
  "vpp local: the forwarder's own VPP is killed under a live connection; it is restarted and the connection comes back",
  { skip, timeout: 90_000 },
  async (t) => {
    const sb = dpSandbox(t);
    const h = harness(sb, "nsm-vr-");
    const node = sb.netns();
    const mgr = await nsmgr(h);
    const backend = await vppBackend({ runDir: `${h.dir}/vpp`, netns: `/run/netns/${node.name}` });
    sb.cleanup.push("backend", () => backend.close());
    const fwd = await createForwarder({
      ...h.common,
      name: "fwd",
      listenOn: [h.sock("fwd")],
      nsmgrUrl: mgr.url,
      backend,
    });
    sb.cleanup.push("forwarder", () => fwd.close());
    const w = await workloads(h, { nsmgrUrl: mgr.url, cidr: "172.16.9.100/31", payload: "IP" });
    const conn = await w.request("nsc-0");
    await ping(w.nsc.name, "172.16.9.100", 1, 10);
    const first = backend.launched!.pid;
    process.kill(first, "SIGKILL");
    await pingUntil(w.nsc.name, "172.16.9.100", 30_000);
    assert.notEqual(backend.launched!.pid, first, "a new VPP");
    await w.close(conn);
    const api = await VppClient.connect(backend.launched!.apiSocket);
    t.after(() => api.close());
    const left = (await api.dump("sw_interface_dump", { sw_if_index: 0xffffffff })).filter((i) => i.tag);
    assert.deepEqual(left, [], "no VPP interface of ours");
    assert.deepEqual(await ours(w.nsc.ns), []);
    assert.deepEqual(await ours(w.nse.ns), []);
  },
);
