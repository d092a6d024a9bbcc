/**
 * rtnetlink wire format: constants, a message builder and attribute readers. Pure TS, no I/O;
 * src/native.ts `nlExec` sends what this builds. Host byte order is little-endian on every
 * platform we target (x86_64, aarch64); network-order fields say so.
 */
import type { NlFixup } from "../native.js";

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_ECHO = 0x8;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

export const RTM_NEWLINK = 16,
  RTM_DELLINK = 17,
  RTM_GETLINK = 18;
export const RTM_NEWADDR = 20,
  RTM_DELADDR = 21,
  RTM_GETADDR = 22;
export const RTM_NEWROUTE = 24,
  RTM_DELROUTE = 25,
  RTM_GETROUTE = 26;
export const RTM_NEWNEIGH = 28,
  RTM_DELNEIGH = 29,
  RTM_GETNEIGH = 30;
/** Local to nsm_native (native/src/nl_exec.cc): a persistent tun/tap (TUNSETIFF), one ethtool value (SIOCETHTOOL) */
export const NSM_TAP_ADD = 0xf001;
export const NSM_ETHTOOL = 0xf002;

export const AF_UNSPEC = 0,
  AF_INET = 2,
  AF_INET6 = 10,
  AF_BRIDGE = 7;
export const IFF_UP = 0x1,
  IFF_LOWER_UP = 0x10000;
export const IFF_TUN = 0x1,
  IFF_TAP = 0x2,
  IFF_NO_PI = 0x1000,
  IFF_VNET_HDR = 0x4000,
  IFF_MULTI_QUEUE = 0x100;

export const IFLA_ADDRESS = 1,
  IFLA_BROADCAST = 2,
  IFLA_IFNAME = 3,
  IFLA_MTU = 4,
  IFLA_LINK = 5;
export const IFLA_MASTER = 10,
  IFLA_OPERSTATE = 16,
  IFLA_LINKINFO = 18,
  IFLA_NET_NS_PID = 19;
export const IFLA_IFALIAS = 20,
  IFLA_STATS64 = 23,
  IFLA_GROUP = 27,
  IFLA_NET_NS_FD = 28;
export const IFLA_INFO_KIND = 1,
  IFLA_INFO_DATA = 2;
export const VETH_INFO_PEER = 1;
export const IFLA_VXLAN_ID = 1,
  IFLA_VXLAN_GROUP = 2,
  IFLA_VXLAN_LINK = 3,
  IFLA_VXLAN_LOCAL = 4;
export const IFLA_VXLAN_TTL = 5,
  IFLA_VXLAN_LEARNING = 7,
  IFLA_VXLAN_PORT = 15;
export const IFLA_VXLAN_GROUP6 = 16,
  IFLA_VXLAN_LOCAL6 = 17;

export const IFA_ADDRESS = 1,
  IFA_LOCAL = 2,
  IFA_LABEL = 3,
  IFA_BROADCAST = 4,
  IFA_FLAGS = 8;
export const IFA_F_NODAD = 0x02,
  IFA_F_TENTATIVE = 0x40,
  IFA_F_PERMANENT = 0x80;

export const RTA_DST = 1,
  RTA_SRC = 2,
  RTA_OIF = 4,
  RTA_GATEWAY = 5,
  RTA_PRIORITY = 6;
export const RTA_PREFSRC = 7,
  RTA_TABLE = 15;
export const RT_TABLE_UNSPEC = 0,
  RT_TABLE_MAIN = 254,
  RT_TABLE_LOCAL = 255;
export const RTPROT_BOOT = 3,
  RTPROT_STATIC = 4;
export const RT_SCOPE_UNIVERSE = 0,
  RT_SCOPE_LINK = 253,
  RT_SCOPE_HOST = 254;
export const RTN_UNICAST = 1;
export const RTNH_F_ONLINK = 4;

export const NDA_DST = 1,
  NDA_LLADDR = 2;
export const NUD_INCOMPLETE = 0x01,
  NUD_REACHABLE = 0x02,
  NUD_STALE = 0x04,
  NUD_DELAY = 0x08;
export const NUD_PROBE = 0x10,
  NUD_FAILED = 0x20,
  NUD_NOARP = 0x40,
  NUD_PERMANENT = 0x80;

const NLMSG_HDRLEN = 16;
const align4 = (n: number): number => (n + 3) & ~3;

/** Fixup relative to its message; the batch turns `msg` into an absolute message index. */
export type MsgFixup =
  | { readonly kind: "nsfd"; readonly offset: number; readonly path: string }
  | { readonly kind: "ifindex"; readonly offset: number; readonly name: string }
  | { readonly kind: "target"; readonly fd: number }
  | { readonly kind: "target"; readonly path: string };

/**
 * Builds one netlink message: header, a fixed family struct, then attributes (nestable).
 * ```ts
 * const m = new NlMsg(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK).struct(ifinfomsg({})).str(IFLA_IFNAME, "x").done();
 * ```
 */
export class NlMsg {
  private buf = Buffer.alloc(256);
  private len = NLMSG_HDRLEN;
  private readonly nests: number[] = [];
  readonly fixups: MsgFixup[] = [];

  constructor(
    readonly type: number,
    readonly flags: number,
  ) {}

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const b = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(b, 0, 0, this.len);
    this.buf = b;
  }

  /** Appends raw bytes padded to 4; returns the offset they start at. */
  raw(bytes: Uint8Array): number {
    const at = this.len;
    this.reserve(align4(bytes.length));
    this.buf.set(bytes, at);
    this.len += align4(bytes.length);
    return at;
  }

  /** The family header (ifinfomsg, ifaddrmsg, rtmsg, ndmsg). */
  struct(bytes: Uint8Array): this {
    this.raw(bytes);
    return this;
  }

  /** Adds an attribute; returns the offset of its payload (for fixups). */
  attrAt(type: number, payload: Uint8Array): number {
    this.reserve(4 + align4(payload.length));
    this.buf.writeUInt16LE(4 + payload.length, this.len);
    this.buf.writeUInt16LE(type, this.len + 2);
    this.len += 4;
    return this.raw(payload);
  }
  attr(type: number, payload: Uint8Array): this {
    this.attrAt(type, payload);
    return this;
  }
  u8(type: number, v: number): this {
    return this.attr(type, Uint8Array.of(v));
  }
  u16(type: number, v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    return this.attr(type, b);
  }
  u16be(type: number, v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return this.attr(type, b);
  }
  u32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return this.attr(type, b);
  }
  i32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    return this.attr(type, b);
  }
  /** NUL-terminated string attribute. */
  str(type: number, s: string): this {
    return this.attr(type, Buffer.concat([Buffer.from(s), Buffer.alloc(1)]));
  }

  /** u32 attribute whose value native code fills with the ifindex of `name` in the target netns. */
  ifindexAttr(type: number, name: string): this {
    const off = this.attrAt(type, new Uint8Array(4));
    this.fixups.push({ kind: "ifindex", offset: off, name });
    return this;
  }
  /** u32 attribute whose value native code fills with an fd of the netns file at `path`. */
  nsfdAttr(type: number, path: string): this {
    const off = this.attrAt(type, new Uint8Array(4));
    this.fixups.push({ kind: "nsfd", offset: off, path });
    return this;
  }
  /** Marks a 4-byte field at absolute `offset` (in the family struct) as an ifindex of `name`. */
  ifindexAt(offset: number, name: string): this {
    this.fixups.push({ kind: "ifindex", offset, name });
    return this;
  }

  /** Sends this message to another netns than the batch's (an fd kept open, or a path). */
  target(t: { fd: number } | { path: string }): this {
    this.fixups.push("fd" in t ? { kind: "target", fd: t.fd } : { kind: "target", path: t.path });
    return this;
  }

  begin(type: number): this {
    this.reserve(4);
    this.nests.push(this.len);
    this.buf.writeUInt16LE(type, this.len + 2);
    this.len += 4;
    return this;
  }
  end(): this {
    const at = this.nests.pop();
    if (at === undefined) throw new Error("NlMsg.end() without begin()");
    this.buf.writeUInt16LE(this.len - at, at);
    return this;
  }

  /** Finishes the header and returns the frame (a copy). */
  done(): Uint8Array {
    if (this.nests.length) throw new Error("NlMsg.done() with an open nest");
    this.buf.writeUInt32LE(this.len, 0);
    this.buf.writeUInt16LE(this.type, 4);
    this.buf.writeUInt16LE(this.flags, 6);
    return Uint8Array.prototype.slice.call(this.buf, 0, this.len);
  }
}

/** Offset of the family struct inside a message. */
export const STRUCT_OFFSET = NLMSG_HDRLEN;

export function ifinfomsg(o: {
  family?: number;
  type?: number;
  index?: number;
  flags?: number;
  change?: number;
}): Uint8Array {
  const b = Buffer.alloc(16);
  b.writeUInt8(o.family ?? AF_UNSPEC, 0);
  b.writeUInt16LE(o.type ?? 0, 2);
  b.writeInt32LE(o.index ?? 0, 4);
  b.writeUInt32LE((o.flags ?? 0) >>> 0, 8);
  b.writeUInt32LE((o.change ?? 0) >>> 0, 12);
  return b;
}
/** Offset of ifi_index inside ifinfomsg. */
export const IFINFO_INDEX = 4;

export function ifaddrmsg(o: {
  family: number;
  prefixlen: number;
  flags?: number;
  scope?: number;
  index?: number;
}): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeUInt8(o.family, 0);
  b.writeUInt8(o.prefixlen, 1);
  b.writeUInt8(o.flags ?? 0, 2);
  b.writeUInt8(o.scope ?? 0, 3);
  b.writeInt32LE(o.index ?? 0, 4);
  return b;
}
export const IFADDR_INDEX = 4;

export function rtmsg(o: {
  family: number;
  dstLen?: number;
  srcLen?: number;
  table?: number;
  protocol?: number;
  scope?: number;
  type?: number;
  flags?: number;
}): Uint8Array {
  const b = Buffer.alloc(12);
  b.writeUInt8(o.family, 0);
  b.writeUInt8(o.dstLen ?? 0, 1);
  b.writeUInt8(o.srcLen ?? 0, 2);
  b.writeUInt8(0, 3);
  b.writeUInt8(o.table ?? 0, 4);
  b.writeUInt8(o.protocol ?? 0, 5);
  b.writeUInt8(o.scope ?? 0, 6);
  b.writeUInt8(o.type ?? 0, 7);
  b.writeUInt32LE((o.flags ?? 0) >>> 0, 8);
  return b;
}

export function ndmsg(o: {
  family: number;
  index?: number;
  state?: number;
  flags?: number;
  type?: number;
}): Uint8Array {
  const b = Buffer.alloc(12);
  b.writeUInt8(o.family, 0);
  b.writeInt32LE(o.index ?? 0, 4);
  b.writeUInt16LE(o.state ?? 0, 8);
  b.writeUInt8(o.flags ?? 0, 10);
  b.writeUInt8(o.type ?? 0, 11);
  return b;
}
export const NDMSG_INDEX = 4;

/** One parsed message: type, flags and the bytes after the header. */
export interface NlFrame {
  readonly type: number;
  readonly flags: number;
  readonly data: Buffer;
}

/** Splits a reply buffer (whole frames back to back) into messages. */
export function parseFrames(buf: Uint8Array): NlFrame[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: NlFrame[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= b.length) {
    const len = b.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > b.length) break;
    out.push({
      type: b.readUInt16LE(off + 4),
      flags: b.readUInt16LE(off + 6),
      data: b.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** Attributes of a message or nest, by type (NLA_F_NESTED / byte-order bits stripped; last wins). */
export function parseAttrs(b: Buffer, start = 0, end = b.length): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  let off = start;
  while (off + 4 <= end) {
    const len = b.readUInt16LE(off);
    const type = b.readUInt16LE(off + 2) & 0x3fff;
    if (len < 4 || off + len > end) break;
    m.set(type, b.subarray(off + 4, off + len));
    off += align4(len);
  }
  return m;
}

/** The payload of the first attribute of `type` (flag bits stripped) at the top level of `b`, without building a map. */
export function findAttr(b: Buffer, start: number, type: number): Buffer | undefined {
  let off = start;
  while (off + 4 <= b.length) {
    const len = b.readUInt16LE(off);
    if (len < 4 || off + len > b.length) return undefined;
    if ((b.readUInt16LE(off + 2) & 0x3fff) === type) return b.subarray(off + 4, off + len);
    off += align4(len);
  }
  return undefined;
}

export const attrStr = (v: Buffer | undefined): string | undefined => {
  if (!v) return undefined;
  const z = v.indexOf(0);
  return v.subarray(0, z < 0 ? v.length : z).toString("utf8");
};
export const attrU32 = (v: Buffer | undefined): number | undefined =>
  v && v.length >= 4 ? v.readUInt32LE(0) : undefined;
export const attrU8 = (v: Buffer | undefined): number | undefined => (v && v.length >= 1 ? v.readUInt8(0) : undefined);
export const attrMac = (v: Buffer | undefined): string | undefined =>
  v ? [...v].map((x) => x.toString(16).padStart(2, "0")).join(":") : undefined;

/** Concatenates messages into one batch and rebases their fixups onto message indexes. */
export function packBatch(msgs: readonly NlMsg[]): { batch: Uint8Array; fixups: NlFixup[] } {
  const frames = msgs.map((m) => m.done());
  const batch = new Uint8Array(frames.reduce((n, f) => n + align4(f.length), 0));
  const fixups: NlFixup[] = [];
  let off = 0;
  frames.forEach((f, i) => {
    batch.set(f, off);
    off += align4(f.length);
    for (const x of msgs[i]!.fixups) fixups.push({ ...x, msg: i });
  });
  return { batch, fixups };
}
