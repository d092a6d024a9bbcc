/**
 * The OVS datapath backend in-process: nsmgr, forwarder (OVS backend), NSE and NSC as components
 * of this process over unix sockets, against a private Open vSwitch (ovs-vswitchd in its own netns,
 * where the backend makes the host ends of its veths); the NSC and the NSE live in fresh
 * namespaces named to the forwarder by `file:///run/netns/<name>`. `ovs-vsctl`/`ovs-ofctl` on the
 * private instance are the independent checks. Root only.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { kernel, type Connection } from "../../src/api/index.js";
import { serve } from "../../src/core/index.js";
import { ovsBackend, type OvsBackend } from "../../src/forwarder/backends/ovs/index.js";
import { ping, rootSkip, sandbox as dpSandbox } from "../../src/datapath/testing/index.js";
import { createForwarder } from "../../src/networkservice/components.js";
import { createRegistry } from "../../src/registry/chains/registry.js";
import { ovsAvailable, startOvs, type OvsInstance } from "../helpers/ovs.js";
import { harness, nsmgr, ours, workloads } from "../helpers/workloads.js";

const skip = rootSkip || (!ovsAvailable() ? "openvswitch-switch not installed" : false);
const BR = "br-nsm";

/** A private OVS whose vswitchd started with userspace TSO on (it reads that only at start). */
async function privateOvs(t: TestContext, cleanup: { push(w: string, f: () => unknown): void }): Promise<OvsInstance> {
  const ovs = await startOvs({ vswitchd: false });
  cleanup.push("ovs", () => ovs.stop());
  ovs.vsctl("--no-wait", "set", "Open_vSwitch", ".", "other_config:userspace-tso-enable=true");
  await ovs.restartVswitchd();
  void t;
  return ovs;
}

async function rig(t: TestContext) {
  const sb = dpSandbox(t);
  const ovs = await privateOvs(t, sb.cleanup);
  const h = harness(sb, "nsm-ovsf-");
  const mgr = await nsmgr(h);
  const backend = await ovsBackend({ db: ovs.dbTarget, bridge: BR, rundir: ovs.dir, netns: `/run/netns/${ovs.netns}` });
  const fwd = await createForwarder({
    ...h.common,
    name: "fwd",
    listenOn: [h.sock("fwd")],
    nsmgrUrl: mgr.url,
    backend,
  });
  sb.cleanup.push("forwarder", () => fwd.close());
  const { nse, nsc, request, close } = await workloads(h, {
    nsmgrUrl: mgr.url,
    cidr: "172.16.1.0/28",
    requestTimeoutMs: 15_000,
  });
  const ports = () => ovs.vsctl("list-ports", BR).split("\n").filter(Boolean);
  /** our cross-connect rules (priority 100) as ovs-ofctl prints them */
  const xflows = () =>
    ovs
      .ofctl("dump-flows", BR, "--no-stats", "--no-names")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.includes("priority=100"));
  return { sb, ovs, nse, nsc, request, close, ports, xflows, backend: backend as OvsBackend };
}

const nseAddr = (c: Connection) => c.context!.ipContext!.dstIpAddrs[0]!.split("/")[0]!;
const nscAddr = (c: Connection) => c.context!.ipContext!.srcIpAddrs[0]!.split("/")[0]!;

test(
  "ovs local: NSC pings NSE through two OVS ports and two flows; refresh keeps them; Close removes ports, flows and interfaces",
  { skip, timeout: 45_000 },
  async (t) => {
    const r = await rig(t);
    const conn = await r.request("nsc-0");
    assert.equal(kernel.ifnameOf(conn), "nsm-1");
    const link = await r.nsc.ns.linkByName("nsm-1");
    assert.equal(link.attrs.up, true);
    assert.equal(link.kind, "veth");
    assert.deepEqual(
      (await r.nsc.ns.addrs({ link: "nsm-1", family: 4 })).map((a) => a.cidr),
      [conn.context!.ipContext!.srcIpAddrs[0]],
    );
    assert.equal((await ours(r.nse.ns)).length, 1);
    const rec = [...r.backend.records.values()][0]!;
    assert.deepEqual(r.ports().sort(), [rec.src!.port, rec.dst!.port].sort());
    assert.match(rec.src!.port, /^tapsrc-/);
    assert.match(rec.dst!.port, /^tapdst-/);
    assert.deepEqual(
      r.xflows().sort(),
      [
        `priority=100,in_port=${rec.src!.ofport} actions=output:${rec.dst!.ofport}`,
        `priority=100,in_port=${rec.dst!.ofport} actions=output:${rec.src!.ofport}`,
      ].sort(),
    );
    await ping(r.nsc.name, nseAddr(conn), 2, 5);
    await ping(r.nse.name, nscAddr(conn), 1, 5);

    // a refresh changes nothing; the forwarder's segment carries the port counters
    const again = await r.request("nsc-0");
    assert.equal((await r.nsc.ns.linkByName("nsm-1")).attrs.index, link.attrs.index);
    const seg = again.path!.pathSegments.find((s) => s.name === "fwd");
    assert.ok(Number(seg?.metrics["server_rx_packets"]) >= 2, JSON.stringify(seg?.metrics));
    assert.ok(Number(seg?.metrics["client_rx_packets"]) >= 2, JSON.stringify(seg?.metrics));
    assert.equal(seg?.metrics["server_interface"], `VETH/${rec.src!.port}`);

    await r.close(again);
    assert.deepEqual(r.ports(), []);
    assert.deepEqual(r.xflows(), []);
    assert.deepEqual(await ours(r.nsc.ns), []);
    assert.deepEqual(await ours(r.nse.ns), []);
    assert.equal(r.backend.records.size, 0);
  },
);

test(
  "ovs faults: ovs-vswitchd restarted under a live connection → flows reinstalled, ping returns without a new Request; ovsdb-server restarted → resynced, new connections work",
  { skip, timeout: 60_000 },
  async (t) => {
    const r = await rig(t);
    const c0 = await r.request("nsc-0");
    await ping(r.nsc.name, nseAddr(c0), 1, 5);
    const before = r.xflows();
    assert.equal(before.length, 2);

    const resyncs = r.backend.resyncs;
    await r.ovs.restartVswitchd();
    // the new vswitchd starts with no flows; the backend's OpenFlow session comes back and reinstalls them
    const until = Date.now() + 15_000;
    while (r.backend.resyncs === resyncs) {
      if (Date.now() > until) throw new Error("no resync within 15 s of the vswitchd restart");
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.deepEqual(r.xflows().sort(), before.sort());
    await ping(r.nsc.name, nseAddr(c0), 2, 10);

    // ovsdb-server restarted: the backend's OVSDB client reconnects (ports stay in the db file)
    const back = new Promise<void>((res) => {
      const off = r.backend.vswitch.db.on("connected", () => {
        off();
        res();
      });
    });
    await r.ovs.restartOvsdb();
    await back;
    const c1 = await r.request("nsc-1", "kernel://icmp/nsm-2");
    assert.equal(r.ports().length, 4);
    await ping(r.nsc.name, nseAddr(c1), 1, 5);
    await ping(r.nsc.name, nseAddr(c0), 1, 5);
    await r.close(c1);
    await r.close(c0);
    assert.deepEqual(r.ports(), []);
    assert.deepEqual(r.xflows(), []);
  },
);

test(
  "ovs remote: two nodes, each with its own OVS (vswitchd in the node netns, uplink attached) — NSC pings a remote NSE through vxlan ports and VNI flows, also after a vswitchd restart; Close removes them",
  { skip, timeout: 60_000 },
  async (t) => {
    const sb = dpSandbox(t);
    const h = harness(sb, "nsm-ovsr-");
    const { sock, common } = h;
    const reg = await createRegistry({ signal: common.signal, name: "registry" });
    sb.cleanup.push("registry", () => reg.close());
    const regSrv = await serve([sock("registry")], { nseRegistry: reg.nse, nsRegistry: reg.ns });
    sb.cleanup.push("registry server", () => regSrv.close());

    // two node namespaces joined by a veth (the underlay), each with a private OVS inside
    const nodes = [sb.netns(), sb.netns()];
    await nodes[0]!.ns
      .batch()
      .linkSetUp("lo")
      .linkAdd({
        kind: "veth",
        attrs: { name: "eth0", up: true },
        peer: { name: "eth0", netns: nodes[1]!.ns, up: true },
      })
      .addrAdd({ link: "eth0", cidr: "10.99.0.1/24" })
      .commit();
    await nodes[1]!.ns.batch().linkSetUp("lo").addrAdd({ link: "eth0", cidr: "10.99.0.2/24" }).commit();
    const mgrs = [];
    const backends: OvsBackend[] = [];
    const ovss: OvsInstance[] = [];
    for (let i = 0; i < 2; i++) {
      const ovs = await startOvs({ netns: nodes[i]!.name });
      sb.cleanup.push(`ovs ${i}`, () => ovs.stop());
      ovss.push(ovs);
      mgrs.push(await nsmgr(h, { name: `nsmgr-${i}`, registryUrl: regSrv.urls[0]!.href }));
    }
    for (let i = 0; i < 2; i++) {
      const backend = await ovsBackend({
        db: ovss[i]!.dbTarget,
        bridge: BR,
        rundir: ovss[i]!.dir,
        netns: `/run/netns/${nodes[i]!.name}`,
        uplink: "eth0",
      });
      backends.push(backend);
      const fwd = await createForwarder({
        ...common,
        name: `fwd-${i}`,
        listenOn: [sock(`fwd-${i}`)],
        nsmgrUrl: mgrs[i]!.url,
        backend,
        // remote or local: the default rule (who serves the NSE), as nsm forwarder runs it; the
        // next hop's URL is the fd nsmgr passed (grpcfd), not the nsmgr's socket path
      });
      sb.cleanup.push(`forwarder ${i}`, () => fwd.close());
    }
    assert.equal(backends[0]!.tunnelIp, "10.99.0.1");
    const w = await workloads(h, {
      nsmgrUrl: mgrs[1]!.url,
      nscNsmgrUrl: mgrs[0]!.url,
      nseName: "nse-r",
      services: ["icmp-r"],
      cidr: "172.16.9.0/28",
      url: "kernel://icmp-r/nsm-1",
      requestTimeoutMs: 20_000,
    });
    const { nse, nsc } = w;

    const conn = await w.request("nsc-r");
    const [a, b] = [[...backends[0]!.records.values()][0]!, [...backends[1]!.records.values()][0]!];
    assert.equal(a.tunnel?.port, "v109902");
    assert.equal(b.tunnel?.port, "v109901");
    assert.equal(a.tunnel?.vni, b.tunnel?.vni);
    await ping(nsc.name, nseAddr(conn), 2, 10);
    const flows = (i: number) =>
      ovss[i]!.ofctl("dump-flows", BR, "--no-stats", "--no-names")
        .split("\n")
        .filter((l) => l.includes("priority=100"));
    assert.equal(flows(0).length, 2);
    assert.ok(
      flows(0).some((l) => l.includes(`set_field:0x${a.tunnel!.vni.toString(16)}->tun_id`)),
      flows(0).join("\n"),
    );

    // vswitchd of the NSC's node restarted: its uplink and tunnel rules come back with the connection's
    const resyncs = backends[0]!.resyncs;
    await ovss[0]!.restartVswitchd();
    const until = Date.now() + 15_000;
    while (backends[0]!.resyncs === resyncs) {
      if (Date.now() > until) throw new Error("no resync within 15 s of the vswitchd restart");
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.equal(flows(0).length, 2);
    await ping(nsc.name, nseAddr(conn), 2, 10);

    await w.close(conn);
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(flows(i), []);
      assert.deepEqual(ovss[i]!.vsctl("list-ports", BR).split("\n").filter(Boolean), ["eth0"]);
    }
    assert.deepEqual(await ours(nsc.ns), []);
    assert.deepEqual(await ours(nse.ns), []);
  },
);
