/**
 * A vxlan device born inside a workload's netns whose UDP socket stays in the node's netns
 * (`ip -n node link add NAME netns WORKLOAD type vxlan ...`): rtnetlink creates the device in
 * IFLA_NET_NS_FD's namespace and hands the driver the requester's namespace for the underlay.
 * So the workload's interface *is* the tunnel end: no veth, no bridge, no move (a move costs an
 * RCU grace period, ~16 ms). The Batch API has no such op (its later ops address links in the
 * batch's own netns), hence this one message here.
 */
import { nlExec } from "../../../native.js";
import { DatapathError } from "../../../datapath/errors.js";
import { parseIp } from "../../../datapath/ip.js";
import * as nl from "../../../datapath/netlink.js";
import type { Netns } from "../../../datapath/netns.js";

export interface VxlanInto {
  /** device name inside `target` */
  name: string;
  vni: number;
  local: string;
  remote: string;
  port: number;
  mtu?: number;
  up?: boolean;
}

/** Creates the vxlan device `v.name` in `target`, tunnelling from `node`; throws DatapathError. */
export async function vxlanAddInto(node: Netns, target: Netns, v: VxlanInto): Promise<void> {
  const local = parseIp(v.local, "vxlan local address"),
    remote = parseIp(v.remote, "vxlan remote address");
  const m = new nl.NlMsg(nl.RTM_NEWLINK, nl.NLM_F_REQUEST | nl.NLM_F_ACK | nl.NLM_F_CREATE | nl.NLM_F_EXCL).struct(
    nl.ifinfomsg({ flags: v.up ? nl.IFF_UP : 0, change: v.up ? nl.IFF_UP : 0 }),
  );
  m.str(nl.IFLA_IFNAME, v.name);
  if (v.mtu) m.u32(nl.IFLA_MTU, v.mtu);
  m.u32(nl.IFLA_NET_NS_FD, target.fd);
  m.begin(nl.IFLA_LINKINFO).str(nl.IFLA_INFO_KIND, "vxlan");
  m.begin(nl.IFLA_INFO_DATA).u32(nl.IFLA_VXLAN_ID, v.vni);
  m.attr(local.family === 4 ? nl.IFLA_VXLAN_LOCAL : nl.IFLA_VXLAN_LOCAL6, local.bytes);
  m.attr(remote.family === 4 ? nl.IFLA_VXLAN_GROUP : nl.IFLA_VXLAN_GROUP6, remote.bytes);
  m.u16be(nl.IFLA_VXLAN_PORT, v.port);
  m.end().end();
  const { batch, fixups } = nl.packBatch([m]);
  node.acquire();
  target.acquire();
  try {
    const r = await nlExec(node.fd, batch, fixups, { keepGoing: false });
    const err = r.errors[0];
    if (err) {
      throw new DatapathError(
        `${err.code} creating vxlan ${v.name} (vni ${v.vni}, ${v.local} → ${v.remote}:${v.port}) in ${target.name} from ${node.name}: ${err.detail ?? err.syscall}`,
        {
          code: err.code,
          errno: err.errno,
          syscall: err.syscall,
          netns: node.name,
          ...(err.detail ? { detail: err.detail } : {}),
        },
      );
    }
  } catch (e) {
    throw DatapathError.wrap(e, `creating vxlan ${v.name} in ${target.name}`, node.name);
  } finally {
    target.release();
    node.release();
  }
}
