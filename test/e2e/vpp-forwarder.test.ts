/**
 * The VPP datapath backend in-process against a real VPP 24.10 running in a "node" netns:
 * nsmgr, forwarder (vpp backend), NSE and NSC as components of this process over unix sockets;
 * the NSC and the NSE live in fresh namespaces. Root only; skipped when VPP is not installed.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { tmpdir } from "node:os";
import { kernel, memif } from "../../src/api/index.js";
import { MemifPort } from "../../src/datapath/memif.js";
import { ping, sandbox as dpSandbox } from "../../src/datapath/testing/index.js";
import type { AclRule } from "../../src/forwarder/backends/vpp/acl.js";
import { vppBackend } from "../../src/forwarder/backends/vpp/index.js";
import { createForwarder } from "../../src/networkservice/components.js";
import { VppClient } from "../../src/vpp/client.js";
import { iperf3 } from "../helpers/iperf.js";
import { harness, nsmgr, ours, pingUntil, workloads } from "../helpers/workloads.js";
import { vppctl, vppNode, vppSkip } from "../helpers/vpp.js";

const skip = vppSkip;
if (skip) console.log(`# vpp-forwarder: skipped: ${skip}`);

async function rig(t: TestContext, o: { cidr: string; payload: "IP" | "ETHERNET"; aclRules?: AclRule[] }) {
  const { h, vpp, mgr, backend, api, tagged } = await vppNode(t, "nsm-vf-", o.aclRules ? { aclRules: o.aclRules } : {});
  const w = await workloads(h, { nsmgrUrl: mgr.url, cidr: o.cidr, payload: o.payload });
  /** tags of every ACL in VPP */
  const acls = async () => (await api.dump("acl_dump", { acl_index: 0xffffffff })).map((a) => a.tag);
  return { ...w, backend, api, tagged, acls, vpp };
}

for (const payload of ["IP", "ETHERNET"] as const) {
  test(
    `vpp local ${payload}: NSC pings NSE and TCP crosses through VPP (veth + af_packet, ${payload === "IP" ? "l3xc" : "l2 xconnect"}); metrics; Close leaves VPP clean`,
    { skip, timeout: 90_000 },
    async (t) => {
      // IP: the sdk-vpp acl element's rules (ICMP, and TCP to iperf3's port) on the NSC-facing interface
      const aclRules: AclRule[] = [
        { action: "permit", proto: 1 },
        { action: "permit", proto: 6, dport: [5201, 5201] },
      ];
      const r = await rig(t, {
        cidr: payload === "IP" ? "172.16.5.100/31" : "172.16.6.100/31",
        payload,
        ...(payload === "IP" ? { aclRules } : {}),
      });
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
      // TCP crosses too (kernel↔kernel: af_packet with the virtio-net header completes checksums)
      const gbps = await iperf3(r.nsc.name, r.nse.name, nse, 1, async () => vppctl(r.vpp, "show errors"));
      assert.ok(gbps > 0.01, `iperf3: ${gbps} Gbit/s`);
      if (payload === "IP") {
        assert.deepEqual(await r.acls(), ["nsm-acl-from-config", "nsm-acl-from-config"]);
        assert.match(vppctl(r.vpp, "show acl-plugin interface"), /input acl\(s\): \d+\s+output acl\(s\): \d+/);
      }

      // a refresh changes nothing and carries VPP's counters as path-segment metrics
      const again = await r.request("nsc-0", undefined, conn);
      assert.equal((await r.nsc.ns.linkByName("nsm-1")).attrs.index, link.attrs.index);
      const seg = again.path!.pathSegments.find((s) => s.name === "fwd");
      assert.ok(Number(seg?.metrics["server_rx_packets"]) >= 3, JSON.stringify(seg?.metrics));
      assert.ok(Number(seg?.metrics["client_tx_packets"]) >= 3, JSON.stringify(seg?.metrics));
      assert.match(seg?.metrics["server_interface"] ?? "", /^AF-PACKET\/host-vp[0-9a-f]{12}$/);

      await r.close(again);
      assert.deepEqual(await r.tagged(), [], "no VPP interface of ours");
      assert.deepEqual(await r.acls(), [], "no ACL of ours");
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

/** An ICMP echo request as a raw IPv4 packet (memif in IP mode carries no L2 header). */
function icmpEcho(src: string, dst: string, seq: number): Buffer {
  const sum = (b: Buffer) => {
    let s = 0;
    for (let i = 0; i + 1 < b.length; i += 2) s += b.readUInt16BE(i);
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return ~s & 0xffff;
  };
  const icmp = Buffer.alloc(40, 0xab);
  icmp.writeUInt32BE(0x08000000, 0);
  icmp.writeUInt16BE(0x4242, 4);
  icmp.writeUInt16BE(seq, 6);
  icmp.writeUInt16BE(sum(icmp), 2);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + icmp.length, 2);
  ip[8] = 64;
  ip[9] = 1;
  Buffer.from(src.split(".").map(Number)).copy(ip, 12);
  Buffer.from(dst.split(".").map(Number)).copy(ip, 16);
  ip.writeUInt16BE(sum(ip), 10);
  return Buffer.concat([ip, icmp]);
}

test(
  "vpp local MEMIF→KERNEL: the NSC's memif (IP mode) reaches VPP's memif master in its netns; the NSE answers an echo",
  { skip, timeout: 90_000 },
  async (t) => {
    const r = await rig(t, { cidr: "172.16.10.100/31", payload: "IP" });
    const conn = await r.request("nsc-0", "memif://icmp/nsm-1");
    assert.equal(conn.mechanism?.type, "MEMIF");
    const socket = memif.socketFileOf(conn.mechanism);
    assert.match(socket ?? "", new RegExp(`^@${tmpdir()}/memif/[^/]+/memif\\.socket$`));
    const port = MemifPort.open({
      role: "client",
      socket: socket!,
      netns: `/run/netns/${r.nsc.name}`,
      payload: "ip",
      reconnectMs: 50,
    });
    t.after(() => port.close());
    await port.waitUp({ timeoutMs: 10_000 });
    let reply: Buffer | undefined;
    for (let seq = 1; seq <= 20 && !reply; seq++) {
      port.send([icmpEcho("172.16.10.101", "172.16.10.100", seq)]);
      const got = await port.receive(1, { timeoutMs: 500, partial: true });
      reply = got.find((p) => p[9] === 1 && p[20] === 0 && p.subarray(12, 16).equals(Buffer.from([172, 16, 10, 100])));
    }
    assert.ok(reply, "an echo reply from the NSE came back through VPP");
    const mine = await r.tagged();
    assert.deepEqual(mine.map((i) => i.interface_dev_type).sort(), ["af-packet", "memif"]);
    await r.close(conn);
    assert.deepEqual(await r.tagged(), [], "no VPP interface of ours");
    assert.deepEqual(await ours(r.nse.ns), []);
  },
);
