/**
 * IPv6 end to end through the forwarder backends: an NSE whose IPAM hands out an IPv6 /127,
 * the NSC gets its address and a route, and ICMPv6 and TCP cross (kernel: veth; VPP: veth +
 * af_packet with l3xc). Root only; the VPP case is skipped when VPP is not installed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ping, rootSkip, sandbox as dpSandbox } from "../../src/datapath/testing/index.js";
import { iperf3 } from "../helpers/iperf.js";
import { vppctl, vppNode, vppSkip } from "../helpers/vpp.js";
import { harness, kernelForwarderOnCleanup, nsmgr, ours, workloads } from "../helpers/workloads.js";

const CIDR = "fd00:16:5::100/127";
const [NSE, NSC] = ["fd00:16:5::100", "fd00:16:5::101"];

type W = Awaited<ReturnType<typeof workloads>>;
async function crosses(w: W, extra?: () => Promise<string>): Promise<void> {
  const conn = await w.request("nsc-0");
  assert.deepEqual(conn.context?.ipContext?.srcIpAddrs, [`${NSC}/128`]);
  assert.deepEqual(
    (await w.nsc.ns.addrs({ link: "nsm-1", family: 6 })).map((a) => a.cidr).filter((c) => !c.startsWith("fe80")),
    [`${NSC}/128`],
  );
  await ping(w.nsc.name, NSE, 3, 10);
  await ping(w.nse.name, NSC, 1, 5);
  const gbps = await iperf3(w.nsc.name, w.nse.name, NSE, 1, extra);
  assert.ok(gbps > 0.01, `iperf3 over IPv6: ${gbps} Gbit/s`);
  await w.close(conn);
  assert.deepEqual(await ours(w.nsc.ns), []);
  assert.deepEqual(await ours(w.nse.ns), []);
}

test(
  "IPv6 through the kernel forwarder: address, ping both ways, TCP",
  { skip: rootSkip, timeout: 60_000 },
  async (t) => {
    const h = harness(dpSandbox(t), "nsm-v6k-");
    const mgr = await nsmgr(h);
    await kernelForwarderOnCleanup(h, mgr.url);
    await crosses(await workloads(h, { nsmgrUrl: mgr.url, cidr: CIDR }));
  },
);

test(
  "IPv6 through the VPP forwarder (l3xc): address, ping both ways, TCP",
  { skip: vppSkip, timeout: 90_000 },
  async (t) => {
    const { h, vpp, mgr, tagged } = await vppNode(t, "nsm-v6v-");
    await crosses(await workloads(h, { nsmgrUrl: mgr.url, cidr: CIDR, payload: "IP" }), async () =>
      vppctl(vpp, "show errors"),
    );
    assert.deepEqual(await tagged(), [], "no VPP interface of ours");
  },
);
