/**
 * VXLAN mechanism (upstream `api/pkg/api/networkservice/mechanisms/vxlan`). Values are strings on the wire; numeric getters return 0 for
 * missing/invalid values, as upstream. `vniShouldBeEven` is upstream's parity rule that keeps
 * the two sides from picking the same VNI.
 */
import { randomBytes } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import type { Mechanism } from "../gen/connection_pb.js";
import { cls, commonKeys, getParam, mechType, newMechanism } from "./common.js";
import type { MechanismHolder } from "./common.js";
import { tunnelParams } from "./tunnel.js";

export const MECHANISM = mechType.VXLAN;
export const keys = {
  SRC_IP: commonKeys.SRC_IP,
  DST_IP: commonKeys.DST_IP,
  SRC_PORT: commonKeys.SRC_PORT,
  DST_PORT: commonKeys.DST_PORT,
  ORIG_SRC_IP: commonKeys.ORIG_SRC_IP,
  ORIG_DST_IP: commonKeys.ORIG_DST_IP,
  VNI: "vni",
  MTU: commonKeys.MTU,
} as const;

const p = tunnelParams(MECHANISM);
export const { srcIp, setSrcIp, dstIp, setDstIp, srcPort, setSrcPort, dstPort, setDstPort, mtu, setMtu } = p;
/** 24-bit VNI; > 16777215 or invalid reads as 0. */
export const [vni, setVni] = p.num(keys.VNI, 24);
export const [origSrcIp, setOrigSrcIp] = p.str(keys.ORIG_SRC_IP);
export const [origDstIp, setOrigDstIp] = p.str(keys.ORIG_DST_IP);

/** REMOTE VXLAN mechanism with the given source IP (more params via setters). */
export function newVxlan(src?: string): Mechanism {
  return newMechanism(cls.REMOTE, MECHANISM, src === undefined ? {} : { [keys.SRC_IP]: src });
}

/** Go's 16-byte net.IP form (v4 mapped into ::ffff:0:0/96); undefined if not an IP. */
export function ip16(ip: string | undefined): Uint8Array | undefined {
  if (!ip) return undefined;
  if (isIPv4(ip)) return Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, ...ip.split(".").map(Number)]);
  if (!isIPv6(ip)) return undefined;
  let s = ip.split("%")[0]!;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    // embedded v4 tail: turn it into two hextets
    const b = v4[1]!.split(".").map(Number);
    s = s.slice(0, -v4[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = s.includes("::") ? (s.split("::") as [string, string]) : [s, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 255;
  });
  return out;
}

/**
 * Upstream parity rule: compare source and destination IPs (orig_* when present) bytewise in
 * 16-byte form; even if source ≤ destination or source is missing, odd otherwise.
 */
export function vniShouldBeEven(x: MechanismHolder | undefined): boolean {
  const src = ip16(getParam(x, MECHANISM, keys.ORIG_SRC_IP) || srcIp(x));
  const dst = ip16(getParam(x, MECHANISM, keys.ORIG_DST_IP) || dstIp(x));
  if (!src) return true;
  if (!dst) return false;
  for (let i = 0; i < 16; i++) if (src[i] !== dst[i]) return src[i]! < dst[i]!;
  return true;
}

/** A random VNI of the right parity: (2r or 2r+1) & 0xFFFFFF for a random uint32 r. */
export function randomVni(x: MechanismHolder | undefined, r = randomBytes(4).readUInt32BE()): number {
  return Number((2n * BigInt(r) + (vniShouldBeEven(x) ? 0n : 1n)) & 0xffffffn);
}
