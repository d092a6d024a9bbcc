/**
 * Two nodes, two real VPPs: the VPP backend on each node plumbs its half of a remote connection
 * (NSC node: KERNEL → VXLAN|WIREGUARD, NSE node: VXLAN|WIREGUARD → KERNEL) the way the
 * forwarder's control plane hands it over (the NSC node offers the mechanism with its tunnel
 * address (and public key), the NSE node answers with its own (and the VNI or its key)). Each VPP
 * owns an af_packet uplink on a veth between the node namespaces. Each tunnel carries IPv4 and,
 * in its own case, IPv6 payload (a /127's two addresses as the context's /128s): ping both ways
 * and a short iperf3. Root only; skipped when VPP is not installed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import {
  ConnectionContextSchema,
  ConnectionSchema,
  IPContextSchema,
  kernel,
  vxlan,
  wireguard,
  type Connection,
} from "../../src/api/index.js";
import { newCtx } from "../../src/core/index.js";
import { ping, sandbox as dpSandbox } from "../../src/datapath/testing/index.js";
import { aclLists } from "../../src/forwarder/backends/vpp/acl.js";
import { vppBackend } from "../../src/forwarder/backends/vpp/index.js";
import { VppClient } from "../../src/vpp/client.js";
import { iperf3 } from "../helpers/iperf.js";
import { ours } from "../helpers/workloads.js";
import { startVpp, vppctl, vppSkip } from "../helpers/vpp.js";

const skip = vppSkip;
if (skip) console.log(`# vpp-remote: skipped: ${skip}`);

/** per family: [the NSC's address, the NSE's] (IPv6: the two of fd00:16:7::100/127) */
const ADDRS = { 4: ["172.16.7.101", "172.16.7.100"], 6: ["fd00:16:7::101", "fd00:16:7::100"] } as const;

for (const [mech, payload, family] of [
  ["VXLAN", "ETHERNET", 4],
  ["WIREGUARD", "IP", 4],
  ["VXLAN", "ETHERNET", 6],
  ["WIREGUARD", "IP", 6],
] as const)
  test(
    `vpp remote ${mech} IPv${family}: NSC on node A pings NSE on node B and back (and TCP crosses) over a ${mech} tunnel between two VPPs; Close leaves both clean`,
    { skip, timeout: 90_000 },
    async (t) => {
      const sb = dpSandbox(t);
      const [a, b, nsc, nse] = [sb.netns(), sb.netns(), sb.netns(), sb.netns()];
      await a.ns
        .batch()
        .linkAdd({ kind: "veth", attrs: { name: "up0", up: true }, peer: { name: "up0", netns: b.ns, up: true } })
        .addrReplace({ link: "up0", cidr: "10.201.0.1/24" })
        .commit();
      await b.ns.batch().addrReplace({ link: "up0", cidr: "10.201.0.2/24" }).commit();
      const [va, vb] = [
        await startVpp(t, undefined, `/run/netns/${a.name}`),
        await startVpp(t, undefined, `/run/netns/${b.name}`),
      ];
      const fa = await vppBackend({ apiSocket: va.apiSocket, netns: `/run/netns/${a.name}`, tunnelIp: "10.201.0.1" });
      sb.cleanup.push("backend a", () => fa.close());
      const fb = await vppBackend({ apiSocket: vb.apiSocket, netns: `/run/netns/${b.name}`, tunnelIp: "10.201.0.2" });
      sb.cleanup.push("backend b", () => fb.close());

      const [nscIp, nseIp] = ADDRS[family];
      // the MTU the control plane gives a tunnelled connection: the uplink's less the tunnel's overhead
      const context = create(ConnectionContextSchema, {
        MTU: mech === "VXLAN" ? 1450 : 1420,
        ipContext: create(IPContextSchema, {
          srcIpAddrs: [`${nscIp}/${family === 4 ? 32 : 128}`],
          dstIpAddrs: [`${nseIp}/${family === 4 ? 32 : 128}`],
        }),
      });
      const conn = (id: string, mechanism: Connection["mechanism"]) =>
        create(ConnectionSchema, { id, mechanism, context, payload, networkService: "icmp" });
      const fromNsc = conn("a-1", kernel.newKernel({ netnsUrl: `file:///run/netns/${nsc.name}`, name: "nsm-1" }));
      const [offer] = fa.outgoingPreferences(fromNsc, { remote: true });
      assert.equal(offer?.type, mech);
      assert.equal(offer!.parameters["src_ip"], "10.201.0.1");
      // the NSE's node plumbs first (it answers the request), then the NSC's node
      const xb = {
        id: "b-1",
        incoming: conn("b-1", offer),
        outgoing: conn("b-1", kernel.newKernel({ netnsUrl: `file:///run/netns/${nse.name}`, name: "nsm-1" })),
      };
      await fb.apply(xb, newCtx({ timeoutMs: 10_000 }));
      assert.equal(offer!.parameters["dst_ip"], "10.201.0.2");
      if (mech === "VXLAN") assert.ok(vxlan.vni(offer) > 0);
      else assert.equal(wireguard.dstPublicKey(offer)?.length, 44);
      const xa = { id: "a-1", incoming: fromNsc, outgoing: conn("a-1", offer) };
      await fa.apply(xa, newCtx({ timeoutMs: 10_000 }));

      await ping(nsc.name, nseIp, 3, 15);
      await ping(nse.name, nscIp, 3, 5);
      // TCP crosses too: without tx checksum offload off on the workload's veth (kernel-side.ts)
      // its TCP segments reach the far side with bad checksums, or not at all
      const gbps = await iperf3(nsc.name, nse.name, nseIp, 1, async () =>
        [va, vb].map((v) => vppctl(v, "show errors")).join("\n"),
      );
      assert.ok(gbps > 0.01, `iperf3 over ${mech}, IPv${family}: ${gbps} Gbit/s`);
      t.diagnostic(`iperf3 over ${mech}, IPv${family}: ${gbps.toFixed(2)} Gbit/s`);
      // the uplink: upstream's deny-all lists with our tunnel port's pinhole in front of both
      const port = mech === "VXLAN" ? 4789 : 51820;
      for (const f of [fa, fb]) {
        const { input, output } = await aclLists(f.vpp, f.uplink!.swIfIndex);
        const tag = new Map((await f.vpp.dump("acl_dump", { acl_index: 0xffffffff })).map((d) => [d.acl_index, d.tag]));
        assert.deepEqual(
          [input.map((i) => tag.get(i)), output.map((i) => tag.get(i))],
          [
            [`nsm-pinhole-${port}`, "nsm-vppinit-denyall-ingress"],
            [`nsm-pinhole-${port}`, "nsm-vppinit-denyall-egress"],
          ],
        );
      }
      const m = await fa.metrics!(xa);
      assert.match(
        m?.["client_interface"] ?? "",
        mech === "VXLAN" ? /^VXLAN\/vxlan_tunnel\d+$/ : /^WIREGUARD TUNNEL\/wg\d+$/,
      );
      assert.ok(Number(m?.["client_tx_packets"]) >= 3, JSON.stringify(m));

      await fa.remove(xa, newCtx({ timeoutMs: 10_000 }));
      await fb.remove(xb, newCtx({ timeoutMs: 10_000 }));
      for (const v of [va, vb]) {
        const api = await VppClient.connect(v.apiSocket);
        const left = (await api.dump("sw_interface_dump", { sw_if_index: 0xffffffff })).map((i) => i.interface_name);
        const acls = (await api.dump("acl_dump", { acl_index: 0xffffffff })).map((d) => d.tag);
        await api.close();
        assert.deepEqual(left, ["local0", "host-up0"], "only the uplink stays");
        assert.deepEqual(acls, ["nsm-vppinit-denyall-ingress", "nsm-vppinit-denyall-egress"], "no pinhole left");
      }
      assert.deepEqual(await ours(nsc.ns), []);
      assert.deepEqual(await ours(nse.ns), []);
    },
  );
