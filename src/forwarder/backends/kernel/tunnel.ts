/**
 * A tunnel end in a workload's netns: KERNEL → VXLAN/WIREGUARD on the NSC's node (`side` "src")
 * or VXLAN/WIREGUARD → KERNEL on the NSE's node ("dst"). What both tunnel kinds share: find the
 * workload's side, open its netns, wait for a pending delete of the same name; then vxlan.ts or
 * wireguard.ts makes the device.
 */
import { kernel, mechType, type Mechanism } from "../../../api/index.js";
import type { Ctx } from "../../../core/index.js";
import type { Netns } from "../../../datapath/netns.js";
import type { CrossConnect } from "../../backend.js";
import type { SideOf } from "../shared/ipcontext.js";
import { openNetnsUrl } from "../shared/netnsurl.js";
import { aliasOf, contextMtu, ifnameOf } from "../shared/plumbing.js";
import { endKey, type KernelEnv, type PlumbedEnd, type PlumbedRecord } from "./types.js";
import { plumbVxlan } from "./vxlan.js";
import type { WireguardTunnels } from "./wireguard.js";

/** One tunnel end to make, as vxlan.ts and wireguard.ts receive it. */
export interface TunnelEnd {
  readonly x: CrossConnect;
  /** fingerprint of the request */
  readonly fp: string;
  /** "src" = the NSC's node, "dst" = the NSE's node */
  readonly side: SideOf;
  /** the tunnel's mechanism (VXLAN or WIREGUARD); on side "dst" we fill its dst_* parameters */
  readonly tun: Mechanism;
  /** the workload's netns (open while the plumbing runs) and our interface there */
  readonly ns: Netns;
  readonly name: string;
  readonly end: PlumbedEnd;
  readonly alias: string;
  /** the connection context's MTU, 0 = none */
  readonly cmtu: number;
  /** our tunnel address */
  readonly tunnelIp: string;
  readonly ctx: Ctx;
}

export async function plumbTunnel(
  env: KernelEnv,
  wg: WireguardTunnels,
  x: CrossConnect,
  fp: string,
  side: SideOf,
  ctx: Ctx,
): Promise<PlumbedRecord> {
  const tunnelIp = env.tunnelIp;
  if (!tunnelIp) throw new Error("no tunnel IP (set NSM_TUNNEL_IP)");
  const local = side === "src" ? x.incoming.mechanism! : x.outgoing.mechanism!;
  const tun = side === "src" ? x.outgoing.mechanism! : x.incoming.mechanism!;
  const what = side === "src" ? "client side" : "endpoint side";
  const name = ifnameOf(local, what);
  const ns = openNetnsUrl(kernel.netnsUrlOf(local), what);
  try {
    const end = { netns: ns.name, inode: ns.inode(), ifname: name };
    await env.waitFor([endKey(end)]);
    const t: TunnelEnd = { x, fp, side, tun, ns, name, end, alias: aliasOf(x.id), cmtu: contextMtu(x), tunnelIp, ctx };
    return tun.type === mechType.VXLAN ? await plumbVxlan(env, t) : await wg.plumb(t);
  } finally {
    ns.close();
  }
}
