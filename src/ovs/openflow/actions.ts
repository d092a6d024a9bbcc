/** OpenFlow 1.3 actions and the APPLY_ACTIONS / GOTO_TABLE instructions that carry them. */
import { OFPP } from "./header.js";
import { type Match, checkInt, decodeOxms, oxm, type MatchField } from "./match.js";

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

export function encodeInstructions(actions: readonly Action[] | undefined, gotoTable: number | undefined): Buffer {
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
export function decodeInstructions(b: Buffer): { actions: Action[]; gotoTable?: number } {
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
