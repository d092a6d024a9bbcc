/**
 * A VXLAN side in VPP (sdk-vpp `mechanisms/vxlan`), ETHERNET payload only as upstream: the
 * tunnel's decapsulated frames go to `ethernet-input` (`add_node_next`), both UDP ports are the
 * one port of the mechanism, and the NSE's node picks the VNI (upstream's parity rule: it stays
 * unique toward the same peer). The uplink carrying our tunnel address is set up by uplink.ts.
 */
import { vxlan, type Mechanism } from "../../../api/index.js";
import { toAddress } from "../../../vpp/address.js";
import type { VppClient } from "../../../vpp/client.js";
import type { CrossConnect } from "../../backend.js";
import type { VppEnv, VppRecord, VppSide } from "./types.js";

let nextIndex: Promise<number> | undefined;
let nextFor: VppClient | undefined;
/** `vxlan4-input` → `ethernet-input`, once per VPP client (VPP answers the same index every time). */
function decapNext(vpp: VppClient): Promise<number> {
  if (nextFor !== vpp || !nextIndex) {
    nextFor = vpp;
    nextIndex = vpp
      .request("add_node_next", { node_name: "vxlan4-input", next_name: "ethernet-input" })
      .then((r) => r.next_index);
  }
  return nextIndex;
}

/**
 * `side` "src": the outgoing mechanism of the NSC's node (the NSE's node answered dst_*, vni);
 * "dst": the incoming mechanism on the NSE's node (we fill dst_*, vni).
 */
export async function vxlanSide(
  env: VppEnv & { tunnelIp: string; vxlanPort: number; live: ReadonlyMap<string, VppRecord> },
  x: CrossConnect,
  m: Mechanism,
  side: "src" | "dst",
  undo: (() => Promise<unknown>)[],
): Promise<VppSide & { vni: number }> {
  const { vpp } = env;
  const peer = side === "src" ? vxlan.dstIp(m) : vxlan.srcIp(m);
  if (!peer) throw new Error(`VXLAN mechanism has no ${side === "src" ? "dst_ip" : "src_ip"}`);
  let vni = vxlan.vni(m);
  if (side === "dst" && !vni) {
    const taken = new Set(
      [...env.live.values()].filter((r) => r.sides.some((s) => s.vxlan?.dst === peer)).map((r) => r.vni),
    );
    do vni = vxlan.randomVni(m);
    while (taken.has(vni));
  }
  if (!vni) throw new Error("VXLAN mechanism from the next hop has no vni");
  const port = (side === "src" ? vxlan.srcPort(m) : vxlan.dstPort(m)) || env.vxlanPort;
  if (side === "dst") {
    vxlan.setDstIp(m, env.tunnelIp);
    vxlan.setDstPort(m, env.vxlanPort);
    vxlan.setVni(m, vni);
  }
  const t = { src: env.tunnelIp, dst: peer, port, vni, decapNext: await decapNext(vpp) };
  const fields = (is_add: boolean) => ({
    is_add,
    src_address: toAddress(t.src),
    dst_address: toAddress(t.dst),
    src_port: t.port,
    dst_port: t.port,
    mcast_sw_if_index: 0xffffffff,
    decap_next_index: t.decapNext,
    vni: t.vni,
  });
  const { sw_if_index } = await vpp.request("vxlan_add_del_tunnel_v3", fields(true));
  undo.push(() => vpp.request("vxlan_add_del_tunnel_v3", fields(false)));
  await vpp.request("sw_interface_tag_add_del", { is_add: true, sw_if_index, tag: x.id });
  const [d] = await vpp.dump("sw_interface_dump", { sw_if_index });
  return {
    kind: "vxlan",
    swIfIndex: sw_if_index,
    iface: `${(d?.interface_dev_type ?? "vxlan").toUpperCase()}/${d?.interface_name ?? sw_if_index}`,
    neighbours: [],
    vxlan: t,
    vni,
  };
}

/** Deletes a tunnel made by vxlanSide. */
export function removeVxlan(vpp: VppClient, s: VppSide): Promise<unknown> {
  const t = s.vxlan!;
  return vpp.request("vxlan_add_del_tunnel_v3", {
    is_add: false,
    src_address: toAddress(t.src),
    dst_address: toAddress(t.dst),
    src_port: t.port,
    dst_port: t.port,
    mcast_sw_if_index: 0xffffffff,
    decap_next_index: t.decapNext,
    vni: t.vni,
  });
}
