/** OXM matches of OpenFlow 1.3: encode and decode `ofp_match`, the fields a forwarder needs. */
import { OFPVID_PRESENT } from "./header.js";

/**
 * Match fields (all optional; absent = wildcard). `vlanVid` is the VLAN id (the codec adds
 * OFPVID_PRESENT); `ipv4Src/Dst` take "10.0.0.1" or "10.0.0.0/24"; MACs "02:00:00:00:00:01".
 * OVS enforces prerequisites: ipv4 fields need `ethType: 0x0800`, tcp ports `ipProto: 6`, ….
 */
export interface Match {
  inPort?: number;
  inPhyPort?: number;
  metadata?: bigint;
  ethDst?: string;
  ethSrc?: string;
  ethType?: number;
  vlanVid?: number;
  vlanPcp?: number;
  ipDscp?: number;
  ipEcn?: number;
  ipProto?: number;
  ipv4Src?: string;
  ipv4Dst?: string;
  tcpSrc?: number;
  tcpDst?: number;
  udpSrc?: number;
  udpDst?: number;
  icmpv4Type?: number;
  icmpv4Code?: number;
  arpOp?: number;
  arpSpa?: string;
  arpTpa?: string;
  arpSha?: string;
  arpTha?: string;
  tunnelId?: bigint | number;
}
export type MatchField = keyof Match;

type Kind = "u8" | "u16" | "u32" | "u64" | "mac" | "ipv4" | "vlan";
const FIELDS: { key: MatchField; id: number; len: number; kind: Kind }[] = [
  { key: "inPort", id: 0, len: 4, kind: "u32" },
  { key: "inPhyPort", id: 1, len: 4, kind: "u32" },
  { key: "metadata", id: 2, len: 8, kind: "u64" },
  { key: "ethDst", id: 3, len: 6, kind: "mac" },
  { key: "ethSrc", id: 4, len: 6, kind: "mac" },
  { key: "ethType", id: 5, len: 2, kind: "u16" },
  { key: "vlanVid", id: 6, len: 2, kind: "vlan" },
  { key: "vlanPcp", id: 7, len: 1, kind: "u8" },
  { key: "ipDscp", id: 8, len: 1, kind: "u8" },
  { key: "ipEcn", id: 9, len: 1, kind: "u8" },
  { key: "ipProto", id: 10, len: 1, kind: "u8" },
  { key: "ipv4Src", id: 11, len: 4, kind: "ipv4" },
  { key: "ipv4Dst", id: 12, len: 4, kind: "ipv4" },
  { key: "tcpSrc", id: 13, len: 2, kind: "u16" },
  { key: "tcpDst", id: 14, len: 2, kind: "u16" },
  { key: "udpSrc", id: 15, len: 2, kind: "u16" },
  { key: "udpDst", id: 16, len: 2, kind: "u16" },
  { key: "icmpv4Type", id: 19, len: 1, kind: "u8" },
  { key: "icmpv4Code", id: 20, len: 1, kind: "u8" },
  { key: "arpOp", id: 21, len: 2, kind: "u16" },
  { key: "arpSpa", id: 22, len: 4, kind: "ipv4" },
  { key: "arpTpa", id: 23, len: 4, kind: "ipv4" },
  { key: "arpSha", id: 24, len: 6, kind: "mac" },
  { key: "arpTha", id: 25, len: 6, kind: "mac" },
  { key: "tunnelId", id: 38, len: 8, kind: "u64" },
];
const BY_KEY = new Map(FIELDS.map((f) => [f.key, f]));
const BY_ID = new Map(FIELDS.map((f) => [f.id, f]));
const OXM_CLASS_BASIC = 0x8000;

function macBytes(s: string, what: string): Buffer {
  const parts = s.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p)))
    throw new RangeError(`${what}: "${s}" is not a MAC address`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}
function ipv4Bytes(s: string, what: string): { value: Buffer; mask?: Buffer } {
  const [addr, plen] = s.split("/");
  const parts = addr!.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new RangeError(`${what}: "${s}" is not an IPv4 address`);
  const value = Buffer.from(parts);
  if (plen === undefined || Number(plen) === 32) return { value };
  const n = Number(plen);
  if (!Number.isInteger(n) || n < 0 || n > 32) throw new RangeError(`${what}: "${s}" has a bad prefix length`);
  const mask = Buffer.alloc(4);
  mask.writeUInt32BE(n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0);
  for (let i = 0; i < 4; i++) value[i]! &= mask[i]!;
  return { value, mask };
}

export function checkInt(v: number, bits: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits)
    throw new RangeError(`${what}: ${v} is not a ${bits}-bit unsigned integer`);
  return v;
}

function fieldValue(key: MatchField, f: { len: number; kind: Kind }, v: unknown): { value: Buffer; mask?: Buffer } {
  const b = Buffer.alloc(f.len);
  switch (f.kind) {
    case "u8":
      b.writeUInt8(checkInt(v as number, 8, key));
      break;
    case "u16":
      b.writeUInt16BE(checkInt(v as number, 16, key));
      break;
    case "u32":
      b.writeUInt32BE(checkInt(v as number, 32, key));
      break;
    case "u64": {
      const n = BigInt(v as bigint | number);
      if (n < 0n || n >= 1n << 64n) throw new RangeError(`${key}: ${n} is not a 64-bit unsigned integer`);
      b.writeBigUInt64BE(n);
      break;
    }
    case "vlan":
      b.writeUInt16BE(checkInt(v as number, 12, key) | OFPVID_PRESENT);
      break;
    case "mac":
      return { value: macBytes(v as string, key) };
    case "ipv4":
      return ipv4Bytes(v as string, key);
  }
  return { value: b };
}

export function oxm(key: MatchField, v: unknown): Buffer {
  const f = BY_KEY.get(key);
  if (!f) throw new RangeError(`match field "${key}" is not supported`);
  const { value, mask } = fieldValue(key, f, v);
  const len = value.length + (mask?.length ?? 0);
  const out = Buffer.alloc(4 + len);
  out.writeUInt32BE(((OXM_CLASS_BASIC << 16) | (f.id << 9) | (mask ? 0x100 : 0) | len) >>> 0, 0);
  value.copy(out, 4);
  mask?.copy(out, 4 + value.length);
  return out;
}

/** `ofp_match` (type OXM) padded to 8 bytes; fields in OXM id order, as ovs-ofctl sends them. */
export function encodeMatch(m: Match = {}): Buffer {
  const tlvs = FIELDS.filter((f) => m[f.key] !== undefined).map((f) => oxm(f.key, m[f.key]));
  const len = 4 + tlvs.reduce((a, t) => a + t.length, 0);
  const out = Buffer.alloc((len + 7) & ~7);
  out.writeUInt16BE(1, 0);
  out.writeUInt16BE(len, 2);
  let off = 4;
  for (const t of tlvs) {
    t.copy(out, off);
    off += t.length;
  }
  return out;
}

export const mac = (b: Buffer): string => [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
const ipv4 = (b: Buffer): string => [...b].join(".");
const prefixLen = (m: Buffer): number => {
  let n = 0;
  for (const x of m) for (let i = 7; i >= 0; i--) if (x & (1 << i)) n++;
  return n;
};

export function decodeOxms(b: Buffer, m: Match): void {
  for (let off = 0; off + 4 <= b.length;) {
    const h = b.readUInt32BE(off);
    const cls = h >>> 16,
      id = (h >>> 9) & 0x7f,
      hasMask = (h >>> 8) & 1,
      len = h & 0xff;
    const f = cls === OXM_CLASS_BASIC ? BY_ID.get(id) : undefined;
    const vlen = hasMask ? len / 2 : len;
    const v = b.subarray(off + 4, off + 4 + vlen);
    const mk = hasMask ? b.subarray(off + 4 + vlen, off + 4 + len) : undefined;
    if (f) {
      const rec = m as Record<string, unknown>;
      switch (f.kind) {
        case "u8":
          rec[f.key] = v.readUInt8(0);
          break;
        case "u16":
          rec[f.key] = v.readUInt16BE(0);
          break;
        case "u32":
          rec[f.key] = v.readUInt32BE(0);
          break;
        case "u64":
          rec[f.key] = v.readBigUInt64BE(0);
          break;
        case "vlan":
          rec[f.key] = v.readUInt16BE(0) & 0x0fff;
          break;
        case "mac":
          rec[f.key] = mac(v);
          break;
        case "ipv4":
          rec[f.key] = mk ? `${ipv4(v)}/${prefixLen(mk)}` : ipv4(v);
          break;
      }
    }
    off += 4 + len;
  }
}

/** Decodes an `ofp_match` at `off`; returns the match and the padded length consumed. */
export function decodeMatch(b: Buffer, off = 0): { match: Match; size: number } {
  const type = b.readUInt16BE(off),
    len = b.readUInt16BE(off + 2);
  const match: Match = {};
  if (type === 1) decodeOxms(b.subarray(off + 4, off + len), match);
  return { match, size: (len + 7) & ~7 };
}
