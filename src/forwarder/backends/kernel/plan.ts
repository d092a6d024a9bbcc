/**
 * What shape a cross connect takes in the kernel backend, and the fingerprint of what it asks
 * for: an equal fingerprint on a refresh means nothing to plumb. On a refresh of a tunnel's NSE
 * side, `restoreDst` gives the caller the same dst_* parameters it got the first time.
 */
import { kernel, mechType, vxlan, wireguard, type Mechanism } from "../../../api/index.js";
import type { CrossConnect } from "../../backend.js";
import type { SideOf } from "../shared/ipcontext.js";
import { ipFingerprint } from "../shared/plumbing.js";
import type { PlumbedRecord } from "./types.js";

export interface KernelPlan {
  shape: "veth" | "tunnel";
  /** tunnel: "src" = the NSC's node (incoming KERNEL), "dst" = the NSE's node */
  side?: SideOf;
  fp: string;
}

const TUNNEL_KEYS = ["src_ip", "src_port", "src_public_key", "dst_ip", "dst_port", "dst_public_key", "vni"];
const isTunnel = (t: string) => t === mechType.VXLAN || t === mechType.WIREGUARD;

export function planOf(x: CrossConnect): KernelPlan {
  const inM = x.incoming.mechanism,
    outM = x.outgoing.mechanism;
  if (!inM || !outM) throw new Error("cross connect without mechanisms on both sides");
  const p = (m: Mechanism, keys: string[]) => keys.map((k) => m.parameters[k] ?? "");
  const kp = (m: Mechanism) => p(m, [kernel.keys.NETNS_URL, kernel.keys.INTERFACE_NAME]);
  const ipFp = ipFingerprint(x);
  if (inM.type === mechType.KERNEL && outM.type === mechType.KERNEL)
    return { shape: "veth", fp: JSON.stringify(["veth", kp(inM), kp(outM), ipFp]) };
  if (inM.type === mechType.KERNEL && isTunnel(outM.type))
    return {
      shape: "tunnel",
      side: "src",
      fp: JSON.stringify([outM.type, "src", kp(inM), p(outM, TUNNEL_KEYS), ipFp]),
    };
  if (isTunnel(inM.type) && outM.type === mechType.KERNEL) {
    // dst_* are ours to fill: not part of what the caller asks for
    const asked = p(inM, ["src_ip", "src_port", "src_public_key"]);
    return { shape: "tunnel", side: "dst", fp: JSON.stringify([inM.type, "dst", kp(outM), asked, ipFp]) };
  }
  throw new Error(`kernel datapath cannot cross-connect ${inM.type} to ${outM.type}`);
}

/** On a refresh of a tunnel's NSE side, puts our dst_* parameters back on the incoming mechanism. */
export function restoreDst(x: CrossConnect, r: PlumbedRecord, tunnelIp: string | undefined, vxlanPort: number): void {
  if (r.side !== "dst" || !tunnelIp) return;
  const m = x.incoming.mechanism!;
  if (r.kind === "vxlan") {
    vxlan.setDstIp(m, tunnelIp);
    vxlan.setDstPort(m, vxlanPort);
    vxlan.setVni(m, r.vni!);
  }
  if (r.kind === "wireguard" && r.wg) {
    wireguard.setDstIp(m, tunnelIp);
    wireguard.setDstPort(m, r.wg.port);
    wireguard.setDstPublicKey(m, r.wg.publicKey);
  }
}
