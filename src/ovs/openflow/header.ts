/**
 * OpenFlow 1.3 constants, the message header, and the small messages a session starts with:
 * HELLO (version bitmap), ERROR, FEATURES. All fields big-endian.
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
/** set in a VLAN id match/field: "a VLAN tag is present" */
export const OFPVID_PRESENT = 0x1000;

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
