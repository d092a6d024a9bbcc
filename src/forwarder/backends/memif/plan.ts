/**
 * Which cross connects the memif backend plumbs itself (a MEMIF side, or KERNEL↔KERNEL when it
 * has no fallback), whether it can, and the fingerprint of what one asks for.
 */
import { kernel, mechType, memif, type Mechanism } from "../../../api/index.js";
import type { CrossConnect } from "../../backend.js";
import { ipFingerprint } from "../shared/plumbing.js";
import { payloadOf } from "./memif-sides.js";

export const LOCAL = new Set<string>([mechType.KERNEL, mechType.MEMIF]);

/** True when this backend plumbs `x` itself rather than handing it to the fallback. */
export function isOurs(x: CrossConnect, hasFallback: boolean): boolean {
  const a = x.incoming.mechanism?.type ?? "",
    b = x.outgoing.mechanism?.type ?? "";
  if (a === mechType.MEMIF || b === mechType.MEMIF) return true;
  return !hasFallback && LOCAL.has(a) && LOCAL.has(b);
}

/** what a side asks for; the client-side `socketfile` is ours to set, so it is not part of it */
const sideFp = (m: Mechanism, side: "client" | "endpoint") => {
  if (m.type === mechType.KERNEL) return [m.type, kernel.netnsUrlOf(m) ?? "", kernel.ifnameOf(m) ?? ""];
  return [m.type, memif.inodeUrlOf(m) ?? "", side === "endpoint" ? (memif.socketFileOf(m) ?? "") : ""];
};

export const fingerprintOf = (x: CrossConnect): string =>
  JSON.stringify([
    sideFp(x.incoming.mechanism!, "client"),
    sideFp(x.outgoing.mechanism!, "endpoint"),
    x.outgoing.payload,
    ipFingerprint(x),
  ]);

/** Throws when the native loop cannot join these two sides. */
export function checkPlumbable(x: CrossConnect): void {
  const inM = x.incoming.mechanism!,
    outM = x.outgoing.mechanism!;
  for (const [m, side] of [
    [inM, "client"],
    [outM, "endpoint"],
  ] as const) {
    if (!LOCAL.has(m.type))
      throw new Error(
        `memif datapath cannot plumb a ${m.type} ${side} side (with ${side === "client" ? outM.type : inM.type} on the other)`,
      );
  }
  if (
    payloadOf(x) === "ip" &&
    (inM.type === mechType.KERNEL || outM.type === mechType.KERNEL) &&
    inM.type !== outM.type
  ) {
    throw new Error(
      `memif datapath: IP payload between MEMIF and KERNEL needs L2 header add/strip, which the native loop does not do (use ETHERNET payload)`,
    );
  }
}
