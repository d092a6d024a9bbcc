/**
 * OpenFlow 1.3 binary codec (wire version 0x04), the subset a forwarder needs: HELLO with a
 * version bitmap, ERROR, ECHO, FEATURES, FLOW_MOD with OXM matches and APPLY_ACTIONS /
 * GOTO_TABLE instructions, BARRIER, MULTIPART (flow stats, port stats, port desc). All fields
 * big-endian. Every encoder returns the whole message, header included.
 *
 *   encodeFlowMod(7, { command: "add", priority: 100, match: { inPort: 1 }, actions: [{ type: "output", port: 2 }] })
 */

export const OFP_VERSION = 4;
export const OFP_HEADER_LEN = 8;

export const MsgType = {
  HELLO: 0,
  ERROR: 1,
  ECHO_REQUEST: 2,
  ECHO_REPLY: 3,
  EXPERIMENTER: 4,
  FEATURES_REQUEST: 5,
  FEATURES_REPLY: 6,
  PACKET_IN: 10,
  FLOW_REMOVED: 11,
  PORT_STATUS: 12,
  FLOW_MOD: 14,
  MULTIPART_REQUEST: 18,
  MULTIPART_REPLY: 19,
  BARRIER_REQUEST: 20,
  BARRIER_REPLY: 21,
} as const;

export const MultipartType = { DESC: 0, FLOW: 1, AGGREGATE: 2, TABLE: 3, PORT_STATS: 4, PORT_DESC: 13 } as const;

/** Reserved port numbers (OpenFlow Switch Specification 1.3.5, section 7.2.1). */
export const OFPP = {
  MAX: 0xffffff00,
  IN_PORT: 0xfffffff8,
  TABLE: 0xfffffff9,
  NORMAL: 0xfffffffa,
  FLOOD: 0xfffffffb,
  ALL: 0xfffffffc,
  CONTROLLER: 0xfffffffd,
  LOCAL: 0xfffffffe,
  ANY: 0xffffffff,
} as const;
export const OFPG_ANY = 0xffffffff;
export const OFP_NO_BUFFER = 0xffffffff;
export const OFPTT_ALL = 0xff;
const OFPVID_PRESENT = 0x1000;

export interface Header {
  version: number;
  type: number;
  length: number;
  xid: number;
}

export function encodeHeader(type: number, xid: number, body: Buffer = Buffer.alloc(0), version = OFP_VERSION): Buffer {
  const b = Buffer.alloc(OFP_HEADER_LEN + body.length);
  b.writeUInt8(version, 0);
  b.writeUInt8(type, 1);
  b.writeUInt16BE(b.length, 2);
  b.writeUInt32BE(xid >>> 0, 4);
  body.copy(b, OFP_HEADER_LEN);
  return b;
}

export function decodeHeader(b: Buffer): Header {
  return { version: b.readUInt8(0), type: b.readUInt8(1), length: b.readUInt16BE(2), xid: b.readUInt32BE(4) };
}

// ---- HELLO ----

/** HELLO offering exactly `versions` (wire numbers) through a VERSIONBITMAP element. */
export function encodeHello(xid: number, versions: readonly number[] = [OFP_VERSION]): Buffer {
  let bitmap = 0;
  for (const v of versions) bitmap |= 1 << v;
  const el = Buffer.alloc(8);
  el.writeUInt16BE(1, 0);
  el.writeUInt16BE(8, 2);
  el.writeUInt32BE(bitmap >>> 0, 4);
  return encodeHeader(MsgType.HELLO, xid, el, Math.max(...versions));
}

/** The versions a peer's HELLO allows: its bitmap if present, else every version up to its header's. */
export function helloVersions(msg: Buffer): number[] {
  const h = decodeHeader(msg);
  for (let off = OFP_HEADER_LEN; off + 4 <= h.length;) {
    const type = msg.readUInt16BE(off),
      len = msg.readUInt16BE(off + 2);
    if (len < 4) break;
    if (type === 1) {
      const out: number[] = [];
      for (let w = 0; w * 4 + 4 < len; w++) {
        const bits = msg.readUInt32BE(off + 4 + w * 4);
        for (let i = 0; i < 32; i++) if (bits & (1 << i)) out.push(w * 32 + i);
      }
      return out;
    }
    off += (len + 7) & ~7;
  }
  return Array.from({ length: h.version }, (_, i) => i + 1);
}

// ---- ERROR ----

export interface ErrorMsg {
  type: number;
  code: number;
  data: Buffer;
}
export function decodeError(msg: Buffer): ErrorMsg {
  return { type: msg.readUInt16BE(8), code: msg.readUInt16BE(10), data: msg.subarray(12) };
}

// ---- FEATURES ----

export interface Features {
  /** 16 hex digits, as OVSDB's Bridge.datapath_id */
  datapathId: string;
  nBuffers: number;
  nTables: number;
  auxiliaryId: number;
  capabilities: number;
}
export function decodeFeatures(msg: Buffer): Features {
  return {
    datapathId: msg.readBigUInt64BE(8).toString(16).padStart(16, "0"),
    nBuffers: msg.readUInt32BE(16),
    nTables: msg.readUInt8(20),
    auxiliaryId: msg.readUInt8(21),
    capabilities: msg.readUInt32BE(24),
  };
}

// ---- OXM match ----

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

function checkInt(v: number, bits: number, what: string): number {
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

function oxm(key: MatchField, v: unknown): Buffer {
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

const mac = (b: Buffer): string => [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
const ipv4 = (b: Buffer): string => [...b].join(".");
const prefixLen = (m: Buffer): number => {
  let n = 0;
  for (const x of m) for (let i = 7; i >= 0; i--) if (x & (1 << i)) n++;
  return n;
};

function decodeOxms(b: Buffer, m: Match): void {
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

// ---- actions and instructions ----

export type Action =
  | {
      type: "output";
      port: number;
      /** bytes to send to a controller port (default 0xffff for CONTROLLER, else 0) */ maxLen?: number;
    }
  | { type: "pushVlan"; ethertype?: number }
  | { type: "popVlan" }
  /** one field: `{ tunnelId: 42n }`, `{ vlanVid: 100 }`, `{ ethDst: "…" }` */
  | { type: "setField"; field: Match }
  | { type: "group"; groupId: number }
  | { type: "decNwTtl" }
  /** an action type this codec does not decode (flow stats) */
  | { type: "unknown"; code: number; body: Buffer };

export function encodeAction(a: Action): Buffer {
  switch (a.type) {
    case "output": {
      const b = Buffer.alloc(16);
      b.writeUInt16BE(0, 0);
      b.writeUInt16BE(16, 2);
      b.writeUInt32BE(checkInt(a.port, 32, "output port"), 4);
      b.writeUInt16BE(a.maxLen ?? (a.port === OFPP.CONTROLLER ? 0xffff : 0), 8);
      return b;
    }
    case "pushVlan": {
      const b = Buffer.alloc(8);
      b.writeUInt16BE(17, 0);
      b.writeUInt16BE(8, 2);
      b.writeUInt16BE(a.ethertype ?? 0x8100, 4);
      return b;
    }
    case "popVlan": {
      const b = Buffer.alloc(8);
      b.writeUInt16BE(18, 0);
      b.writeUInt16BE(8, 2);
      return b;
    }
    case "decNwTtl": {
      const b = Buffer.alloc(8);
      b.writeUInt16BE(24, 0);
      b.writeUInt16BE(8, 2);
      return b;
    }
    case "group": {
      const b = Buffer.alloc(8);
      b.writeUInt16BE(22, 0);
      b.writeUInt16BE(8, 2);
      b.writeUInt32BE(a.groupId, 4);
      return b;
    }
    case "setField": {
      const keys = Object.keys(a.field).filter((k) => a.field[k as MatchField] !== undefined) as MatchField[];
      if (keys.length !== 1) throw new RangeError(`setField takes exactly one field, got ${JSON.stringify(keys)}`);
      const t = oxm(keys[0]!, a.field[keys[0]!]);
      const len = (4 + t.length + 7) & ~7;
      const b = Buffer.alloc(len);
      b.writeUInt16BE(25, 0);
      b.writeUInt16BE(len, 2);
      t.copy(b, 4);
      return b;
    }
    case "unknown": {
      const b = Buffer.alloc(4 + a.body.length);
      b.writeUInt16BE(a.code, 0);
      b.writeUInt16BE(b.length, 2);
      a.body.copy(b, 4);
      return b;
    }
  }
}

export function decodeActions(b: Buffer): Action[] {
  const out: Action[] = [];
  for (let off = 0; off + 4 <= b.length;) {
    const type = b.readUInt16BE(off),
      len = b.readUInt16BE(off + 2);
    if (len < 4) break;
    const a = b.subarray(off, off + len);
    switch (type) {
      case 0:
        out.push({ type: "output", port: a.readUInt32BE(4), maxLen: a.readUInt16BE(8) });
        break;
      case 17:
        out.push({ type: "pushVlan", ethertype: a.readUInt16BE(4) });
        break;
      case 18:
        out.push({ type: "popVlan" });
        break;
      case 22:
        out.push({ type: "group", groupId: a.readUInt32BE(4) });
        break;
      case 24:
        out.push({ type: "decNwTtl" });
        break;
      case 25: {
        const field: Match = {};
        decodeOxms(a.subarray(4), field);
        out.push({ type: "setField", field });
        break;
      }
      default:
        out.push({ type: "unknown", code: type, body: Buffer.from(a.subarray(4)) });
    }
    off += len;
  }
  return out;
}

function encodeInstructions(actions: readonly Action[] | undefined, gotoTable: number | undefined): Buffer {
  const parts: Buffer[] = [];
  if (actions && actions.length) {
    const acts = Buffer.concat(actions.map(encodeAction));
    const h = Buffer.alloc(8);
    h.writeUInt16BE(4, 0);
    h.writeUInt16BE(8 + acts.length, 2);
    parts.push(h, acts);
  }
  if (gotoTable !== undefined) {
    const g = Buffer.alloc(8);
    g.writeUInt16BE(1, 0);
    g.writeUInt16BE(8, 2);
    g.writeUInt8(checkInt(gotoTable, 8, "gotoTable"), 4);
    parts.push(g);
  }
  return Buffer.concat(parts);
}

/** Instructions → the apply-actions list (write-actions too) and goto table. */
function decodeInstructions(b: Buffer): { actions: Action[]; gotoTable?: number } {
  const actions: Action[] = [];
  let gotoTable: number | undefined;
  for (let off = 0; off + 4 <= b.length;) {
    const type = b.readUInt16BE(off),
      len = b.readUInt16BE(off + 2);
    if (len < 4) break;
    if (type === 4 || type === 3) actions.push(...decodeActions(b.subarray(off + 8, off + len)));
    else if (type === 1) gotoTable = b.readUInt8(off + 4);
    off += len;
  }
  return gotoTable === undefined ? { actions } : { actions, gotoTable };
}

// ---- FLOW_MOD ----

export const FlowModCommand = { add: 0, modify: 1, modifyStrict: 2, delete: 3, deleteStrict: 4 } as const;
export type FlowModCommandName = keyof typeof FlowModCommand;

export interface FlowMod {
  command: FlowModCommandName;
  /** default 0 for add/modify, OFPTT_ALL (0xff) for delete, as ovs-ofctl */
  tableId?: number;
  /** default 0x8000 (OpenFlow's default); strict commands must give the flow's */
  priority?: number;
  cookie?: bigint;
  cookieMask?: bigint;
  idleTimeout?: number;
  hardTimeout?: number;
  /** delete: only flows outputting to this port (default ANY) */
  outPort?: number;
  outGroup?: number;
  /** 1 SEND_FLOW_REM, 2 CHECK_OVERLAP, 4 RESET_COUNTS, 8 NO_PKT_COUNTS, 16 NO_BYT_COUNTS */
  flags?: number;
  match?: Match;
  actions?: Action[];
  gotoTable?: number;
}

export function encodeFlowMod(xid: number, fm: FlowMod): Buffer {
  const isDelete = fm.command === "delete" || fm.command === "deleteStrict";
  const match = encodeMatch(fm.match);
  const inst = isDelete ? Buffer.alloc(0) : encodeInstructions(fm.actions, fm.gotoTable);
  const body = Buffer.alloc(40 + match.length + inst.length);
  body.writeBigUInt64BE(fm.cookie ?? 0n, 0);
  body.writeBigUInt64BE(fm.cookieMask ?? 0n, 8);
  body.writeUInt8(checkInt(fm.tableId ?? (isDelete ? OFPTT_ALL : 0), 8, "tableId"), 16);
  body.writeUInt8(FlowModCommand[fm.command], 17);
  body.writeUInt16BE(checkInt(fm.idleTimeout ?? 0, 16, "idleTimeout"), 18);
  body.writeUInt16BE(checkInt(fm.hardTimeout ?? 0, 16, "hardTimeout"), 20);
  body.writeUInt16BE(checkInt(fm.priority ?? 0x8000, 16, "priority"), 22);
  body.writeUInt32BE(OFP_NO_BUFFER, 24);
  body.writeUInt32BE(fm.outPort ?? OFPP.ANY, 28);
  body.writeUInt32BE(fm.outGroup ?? OFPG_ANY, 32);
  body.writeUInt16BE(fm.flags ?? 0, 36);
  match.copy(body, 40);
  inst.copy(body, 40 + match.length);
  return encodeHeader(MsgType.FLOW_MOD, xid, body);
}

// ---- MULTIPART ----

export function encodeMultipartRequest(xid: number, type: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(8 + body.length);
  b.writeUInt16BE(type, 0);
  body.copy(b, 8);
  return encodeHeader(MsgType.MULTIPART_REQUEST, xid, b);
}

export interface MultipartReply {
  type: number;
  more: boolean;
  body: Buffer;
}
export function decodeMultipartReply(msg: Buffer): MultipartReply {
  return { type: msg.readUInt16BE(8), more: (msg.readUInt16BE(10) & 1) === 1, body: msg.subarray(16) };
}

export interface FlowStatsRequest {
  tableId?: number;
  outPort?: number;
  outGroup?: number;
  cookie?: bigint;
  cookieMask?: bigint;
  match?: Match;
}
export function encodeFlowStatsRequest(xid: number, r: FlowStatsRequest = {}): Buffer {
  const match = encodeMatch(r.match);
  const b = Buffer.alloc(32 + match.length);
  b.writeUInt8(r.tableId ?? OFPTT_ALL, 0);
  b.writeUInt32BE(r.outPort ?? OFPP.ANY, 4);
  b.writeUInt32BE(r.outGroup ?? OFPG_ANY, 8);
  b.writeBigUInt64BE(r.cookie ?? 0n, 16);
  b.writeBigUInt64BE(r.cookieMask ?? 0n, 24);
  match.copy(b, 32);
  return encodeMultipartRequest(xid, MultipartType.FLOW, b);
}

export interface FlowStats {
  tableId: number;
  durationSec: number;
  durationNsec: number;
  priority: number;
  idleTimeout: number;
  hardTimeout: number;
  flags: number;
  cookie: bigint;
  packetCount: bigint;
  byteCount: bigint;
  match: Match;
  actions: Action[];
  gotoTable?: number;
}
export function decodeFlowStats(body: Buffer): FlowStats[] {
  const out: FlowStats[] = [];
  for (let off = 0; off + 56 <= body.length;) {
    const len = body.readUInt16BE(off);
    if (len < 56) break;
    const e = body.subarray(off, off + len);
    const { match, size } = decodeMatch(e, 48);
    out.push({
      tableId: e.readUInt8(2),
      durationSec: e.readUInt32BE(4),
      durationNsec: e.readUInt32BE(8),
      priority: e.readUInt16BE(12),
      idleTimeout: e.readUInt16BE(14),
      hardTimeout: e.readUInt16BE(16),
      flags: e.readUInt16BE(18),
      cookie: e.readBigUInt64BE(24),
      packetCount: e.readBigUInt64BE(32),
      byteCount: e.readBigUInt64BE(40),
      match,
      ...decodeInstructions(e.subarray(48 + size)),
    });
    off += len;
  }
  return out;
}

export function encodePortStatsRequest(xid: number, port: number = OFPP.ANY): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(port >>> 0, 0);
  return encodeMultipartRequest(xid, MultipartType.PORT_STATS, b);
}

export interface PortStats {
  portNo: number;
  rxPackets: number;
  txPackets: number;
  rxBytes: number;
  txBytes: number;
  rxDropped: number;
  txDropped: number;
  rxErrors: number;
  txErrors: number;
  rxFrameErr: number;
  rxOverErr: number;
  rxCrcErr: number;
  collisions: number;
  durationSec: number;
  durationNsec: number;
}
export function decodePortStats(body: Buffer): PortStats[] {
  const out: PortStats[] = [];
  for (let off = 0; off + 112 <= body.length; off += 112) {
    const u = (i: number): number => Number(body.readBigUInt64BE(off + 8 + i * 8));
    out.push({
      portNo: body.readUInt32BE(off),
      rxPackets: u(0),
      txPackets: u(1),
      rxBytes: u(2),
      txBytes: u(3),
      rxDropped: u(4),
      txDropped: u(5),
      rxErrors: u(6),
      txErrors: u(7),
      rxFrameErr: u(8),
      rxOverErr: u(9),
      rxCrcErr: u(10),
      collisions: u(11),
      durationSec: body.readUInt32BE(off + 104),
      durationNsec: body.readUInt32BE(off + 108),
    });
  }
  return out;
}

export interface PortDesc {
  portNo: number;
  hwAddr: string;
  name: string;
  config: number;
  state: number;
  curr: number;
  advertised: number;
  supported: number;
  peer: number;
  currSpeedKbps: number;
  maxSpeedKbps: number;
}
export function decodePortDesc(body: Buffer): PortDesc[] {
  const out: PortDesc[] = [];
  for (let off = 0; off + 64 <= body.length; off += 64) {
    const nameRaw = body.subarray(off + 16, off + 32);
    const nul = nameRaw.indexOf(0);
    out.push({
      portNo: body.readUInt32BE(off),
      hwAddr: mac(body.subarray(off + 8, off + 14)),
      name: nameRaw.subarray(0, nul < 0 ? 16 : nul).toString("utf8"),
      config: body.readUInt32BE(off + 32),
      state: body.readUInt32BE(off + 36),
      curr: body.readUInt32BE(off + 40),
      advertised: body.readUInt32BE(off + 44),
      supported: body.readUInt32BE(off + 48),
      peer: body.readUInt32BE(off + 52),
      currSpeedKbps: body.readUInt32BE(off + 56),
      maxSpeedKbps: body.readUInt32BE(off + 60),
    });
  }
  return out;
}
