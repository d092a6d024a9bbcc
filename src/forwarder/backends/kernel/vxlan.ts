/**
 * A vxlan device born in the workload's netns whose UDP socket stays in the node's netns: the
 * workload's interface *is* the tunnel end (no veth, no bridge, no move). On the NSE's node this
 * side picks the VNI (upstream's vni server: a random one not used toward the same peer) and
 * answers with its own address and port.
 */
import { vxlan } from "../../../api/index.js";
import { addSideOps } from "../shared/plumbing.js";
import { withStaleRetry } from "../shared/stale.js";
import type { TunnelEnd } from "./tunnel.js";
import type { KernelEnv, PlumbedRecord } from "./types.js";

export async function plumbVxlan(env: KernelEnv, t: TunnelEnd): Promise<PlumbedRecord> {
  const { x, side, tun, ns, name, tunnelIp } = t;
  const peerIp = side === "src" ? vxlan.dstIp(tun) : vxlan.srcIp(tun);
  if (!peerIp) throw new Error(`VXLAN mechanism has no ${side === "src" ? "dst_ip" : "src_ip"}`);
  let vni = vxlan.vni(tun);
  if (side === "dst" && !vni) {
    vxlan.setDstIp(tun, tunnelIp);
    const taken = new Set([...env.live.values()].filter((r) => r.peerIp === peerIp).map((r) => r.vni));
    do vni = vxlan.randomVni(tun);
    while (taken.has(vni));
  }
  if (!vni && side === "src") throw new Error("VXLAN mechanism from the next hop has no vni");
  const port = (side === "src" ? vxlan.dstPort(tun) : vxlan.srcPort(tun)) || env.vxlanPort;
  const mtu = Math.min(vxlan.mtu(tun) || env.vxlanMtu, env.vxlanMtu, t.cmtu || Infinity);
  if (side === "dst") {
    vxlan.setDstIp(tun, tunnelIp);
    vxlan.setDstPort(tun, env.vxlanPort);
    vxlan.setVni(tun, vni);
    vxlan.setMtu(tun, mtu);
  }
  const rec: PlumbedRecord = { id: x.id, kind: "vxlan", fp: t.fp, ends: [t.end], side, vni, peerIp };
  env.persist(rec);
  // one native call: the device born in the workload's netns (its UDP socket stays in ours),
  // its alias, addresses and routes there; a refusal undoes all of it
  await withStaleRetry(
    [{ ns, ifname: name }],
    () =>
      env.node
        .batch()
        .linkAdd({
          kind: "vxlan",
          netns: ns,
          attrs: { name, mtu, up: true, alias: t.alias },
          vni,
          local: tunnelIp,
          remote: peerIp,
          port,
        })
        .in(ns, (b) => addSideOps(b, x, side, name))
        .commit({ signal: t.ctx.signal }),
    { log: env.log },
  );
  return rec;
}
