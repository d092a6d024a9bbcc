/** What shape a cross connect takes in the OVS backend, and the fingerprint of what it asks for. */
import { kernel, mechType, type Mechanism } from "../../../api/index.js";
import type { CrossConnect } from "../../backend.js";
import type { SideOf } from "../shared/ipcontext.js";
import { ipFingerprint } from "../shared/plumbing.js";

export interface OvsPlan {
  kind: "local" | "remote";
  /** remote: "src" = the NSC's node, "dst" = the NSE's node */
  side?: SideOf;
  fp: string;
}

/** `mtu`: the veth MTU used when the context has none (part of what is asked for). */
export function planOf(x: CrossConnect, mtu: number | undefined): OvsPlan {
  const inM = x.incoming.mechanism,
    outM = x.outgoing.mechanism;
  if (!inM || !outM) throw new Error("cross connect without mechanisms on both sides");
  const p = (m: Mechanism, keys: string[]) => keys.map((k) => m.parameters[k] ?? "");
  const kp = (m: Mechanism) => p(m, [kernel.keys.NETNS_URL, kernel.keys.INTERFACE_NAME]);
  const ipFp = ipFingerprint(x, x.outgoing.context?.MTU || mtu || 0);
  if (inM.type === mechType.KERNEL && outM.type === mechType.KERNEL)
    return { kind: "local", fp: JSON.stringify(["local", kp(inM), kp(outM), ipFp]) };
  if (inM.type === mechType.KERNEL && outM.type === mechType.VXLAN) {
    const asked = p(outM, ["src_ip", "dst_ip", "dst_port", "vni"]);
    return { kind: "remote", side: "src", fp: JSON.stringify(["vxlan", "src", kp(inM), asked, ipFp]) };
  }
  if (inM.type === mechType.VXLAN && outM.type === mechType.KERNEL) {
    const asked = p(inM, ["src_ip", "src_port"]);
    return { kind: "remote", side: "dst", fp: JSON.stringify(["vxlan", "dst", kp(outM), asked, ipFp]) };
  }
  throw new Error(`ovs datapath cannot cross-connect ${inM.type} to ${outM.type}`);
}
