/**
 * The uplink (cmd-forwarder-vpp `internal/vppinit`, AF_PACKET mode): the link in VPP's netns that
 * carries our tunnel address gets an af_packet interface with the link's MAC, the same address
 * and the link's MTU, admin up, so VPP itself sends and receives our tunnels' packets on it.
 * With VPP's acl plugin it also gets upstream's deny-all ACLs, and tunnels open pinholes in them
 * (acl.ts).
 */
import type { Netns } from "../../../datapath/netns.js";
import { toMac, toPrefix } from "../../../vpp/address.js";
import type { VppClient } from "../../../vpp/client.js";
import { denyAll, hasAcl, Pinholes } from "./acl.js";

export interface Uplink {
  swIfIndex: number;
  ifname: string;
  ip: string;
  mtu: number;
  /** the tunnels' UDP ports let through the deny-all ACLs (absent without the acl plugin) */
  pinholes?: Pinholes;
}

export async function initUplink(vpp: VppClient, node: Netns, tunnelIp: string): Promise<Uplink> {
  const a = (await node.addrs({ family: tunnelIp.includes(":") ? 6 : 4 })).find(
    (x) => x.cidr.split("/")[0] === tunnelIp,
  );
  if (!a) throw new Error(`NSM_TUNNEL_IP ${tunnelIp} is on no link of VPP's netns ${node.name}`);
  const link = await node.linkByName(a.link);
  const name = `host-${a.link}`;
  const found = (await vpp.dump("sw_interface_dump", { sw_if_index: 0xffffffff })).find(
    (i) => i.interface_name === name,
  );
  const mtu = link.attrs.mtu ?? 1500;
  let swIfIndex = found?.sw_if_index;
  if (swIfIndex === undefined) {
    ({ sw_if_index: swIfIndex } = await vpp.request("af_packet_create_v3", {
      mode: 1,
      hw_addr: toMac(link.attrs.mac!),
      host_if_name: a.link,
      rx_frame_size: 10240,
      tx_frame_size: 10240,
      flags: 8,
    }));
    await vpp.request("sw_interface_add_del_address", {
      sw_if_index: swIfIndex,
      is_add: true,
      prefix: toPrefix(a.cidr),
    });
  }
  const acl = hasAcl(vpp);
  if (acl) await denyAll(vpp, swIfIndex);
  await vpp.request("sw_interface_set_flags", { sw_if_index: swIfIndex, flags: 1 });
  return {
    swIfIndex,
    ifname: a.link,
    ip: tunnelIp,
    mtu,
    ...(acl ? { pinholes: new Pinholes(vpp, swIfIndex, tunnelIp) } : {}),
  };
}
