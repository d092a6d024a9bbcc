/** OpenFlow 1.3 FLOW_MOD and MULTIPART (flow stats, port stats, port desc) messages. */
import { MsgType, MultipartType, OFPP, OFPG_ANY, OFP_NO_BUFFER, OFPTT_ALL, encodeHeader } from "./header.js";
import { type Match, checkInt, encodeMatch, decodeMatch, mac } from "./match.js";
import { type Action, encodeInstructions, decodeInstructions } from "./actions.js";

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
