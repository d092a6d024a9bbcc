/**
 * Encodes and decodes VPP binary-API messages by the generated schemas (src/vpp/gen/messages.ts):
 * big-endian integers, packed structs, `string x[N]` NUL padded, `string x[]` as u32 length +
 * bytes, variable arrays sized by their count field (filled in from the array's length when
 * encoding). Omitted request fields are zero or the .api default, as VPP's Python client does.
 * Decoding never reads past the buffer: a short or inconsistent message throws.
 *
 *   const buf = encode("sw_interface_set_flags", { _vl_msg_id: 42, sw_if_index: 1, flags: 1 });
 *   const reply = decode("sw_interface_set_flags_reply", buf);
 */
import { MESSAGES, STRUCTS } from "./gen/messages.js";
import type { Node, Schema } from "./schema.js";

type Obj = Record<string, unknown>;

export class VppDecodeError extends Error {}

function schemaOf(name: string): Schema {
  const m = MESSAGES[name];
  if (!m) throw new Error(`no generated schema for VPP message "${name}" (add it to scripts/vpp-gen.mjs)`);
  return m.fields;
}

// ---- size ----
function sizeOf(n: Node, v: unknown): number {
  switch (n.k) {
    case "u8":
    case "i8":
    case "bool":
      return 1;
    case "u16":
    case "i16":
      return 2;
    case "u32":
    case "i32":
      return 4;
    case "u64":
    case "i64":
    case "f64":
      return 8;
    case "string":
      return n.n ? n.n : 4 + Buffer.byteLength(typeof v === "string" ? v : "");
    case "bytes":
      return n.n ? n.n : v instanceof Uint8Array ? v.length : 0;
    case "union":
      return n.n;
    case "struct":
      return structSize(STRUCTS[n.ref]!, (v ?? {}) as Obj);
    case "array": {
      const a = Array.isArray(v) ? v : [];
      const len = n.n || a.length;
      let s = 0;
      for (let i = 0; i < len; i++) s += sizeOf(n.of, a[i]);
      return s;
    }
  }
}
function structSize(s: Schema, v: Obj): number {
  let t = 0;
  for (const [name, n] of s) t += sizeOf(n, v[name]);
  return t;
}

// ---- encode ----
function put(buf: Buffer, off: number, n: Node, v: unknown, dflt?: unknown): number {
  if (v === undefined) v = dflt;
  switch (n.k) {
    case "u8":
      buf.writeUInt8(Number(v ?? 0) & 0xff, off);
      return off + 1;
    case "i8":
      buf.writeInt8(Number(v ?? 0), off);
      return off + 1;
    case "bool":
      buf.writeUInt8(v ? 1 : 0, off);
      return off + 1;
    case "u16":
      buf.writeUInt16BE(Number(v ?? 0) & 0xffff, off);
      return off + 2;
    case "i16":
      buf.writeInt16BE(Number(v ?? 0), off);
      return off + 2;
    case "u32":
      buf.writeUInt32BE(Number(v ?? 0) >>> 0, off);
      return off + 4;
    case "i32":
      buf.writeInt32BE(Number(v ?? 0) | 0, off);
      return off + 4;
    case "u64":
      buf.writeBigUInt64BE(BigInt.asUintN(64, BigInt((v as bigint | number | undefined) ?? 0)), off);
      return off + 8;
    case "i64":
      buf.writeBigInt64BE(BigInt.asIntN(64, BigInt((v as bigint | number | undefined) ?? 0)), off);
      return off + 8;
    case "f64":
      buf.writeDoubleBE(Number(v ?? 0), off);
      return off + 8;
    case "string": {
      const b = Buffer.from(typeof v === "string" ? v : "");
      if (!n.n) {
        buf.writeUInt32BE(b.length, off);
        b.copy(buf, off + 4);
        return off + 4 + b.length;
      }
      // fixed: at most n-1 bytes, so VPP always finds the NUL
      if (b.length >= n.n) throw new RangeError(`string "${String(v)}" is longer than ${n.n - 1} bytes`);
      b.copy(buf, off);
      return off + n.n;
    }
    case "bytes":
    case "union": {
      const b = v instanceof Uint8Array ? v : new Uint8Array(0);
      const len = n.n || b.length;
      if (b.length > len) throw new RangeError(`${b.length} bytes given for a ${len}-byte field`);
      buf.set(b, off);
      return off + len;
    }
    case "struct":
      return putStruct(buf, off, STRUCTS[n.ref]!, (v ?? {}) as Obj);
    case "array": {
      const a = Array.isArray(v) ? v : [];
      const len = n.n || a.length;
      if (a.length > len) throw new RangeError(`${a.length} elements given for a ${len}-element array`);
      for (let i = 0; i < len; i++) off = put(buf, off, n.of, a[i]);
      return off;
    }
  }
}
function putStruct(buf: Buffer, off: number, s: Schema, v: Obj): number {
  // count fields take the length of the array that names them
  const counts = new Map<string, number>();
  for (const [, n] of s)
    if ((n.k === "array" || n.k === "bytes") && n.count) {
      const a = v[s.find((f) => f[1] === n)![0]];
      counts.set(n.count, a instanceof Uint8Array || Array.isArray(a) ? a.length : 0);
    }
  for (const [name, n, dflt] of s) off = put(buf, off, n, counts.has(name) ? counts.get(name) : v[name], dflt);
  return off;
}

/** The message's bytes (header fields included: `_vl_msg_id`, `client_index`, `context` come from `v`). */
export function encode(name: string, v: Obj): Buffer {
  const s = schemaOf(name);
  const buf = Buffer.alloc(structSize(s, v));
  putStruct(buf, 0, s, v);
  return buf;
}

// ---- decode ----
class Reader {
  constructor(
    readonly buf: Buffer,
    public off: number,
    readonly what: string,
  ) {}
  need(n: number): number {
    if (n < 0 || this.off + n > this.buf.length)
      throw new VppDecodeError(
        `${this.what}: needs ${n} bytes at offset ${this.off}, message has ${this.buf.length} bytes`,
      );
    const at = this.off;
    this.off += n;
    return at;
  }
}
function get(r: Reader, n: Node, count?: number): unknown {
  const b = r.buf;
  switch (n.k) {
    case "u8":
      return b.readUInt8(r.need(1));
    case "i8":
      return b.readInt8(r.need(1));
    case "bool":
      return b.readUInt8(r.need(1)) !== 0;
    case "u16":
      return b.readUInt16BE(r.need(2));
    case "i16":
      return b.readInt16BE(r.need(2));
    case "u32":
      return b.readUInt32BE(r.need(4));
    case "i32":
      return b.readInt32BE(r.need(4));
    case "u64":
      return b.readBigUInt64BE(r.need(8));
    case "i64":
      return b.readBigInt64BE(r.need(8));
    case "f64":
      return b.readDoubleBE(r.need(8));
    case "string": {
      const len = n.n || b.readUInt32BE(r.need(4));
      const at = r.need(len);
      const raw = b.subarray(at, at + len);
      const nul = n.n ? raw.indexOf(0) : -1;
      return raw.toString("utf8", 0, nul < 0 ? raw.length : nul);
    }
    case "bytes":
    case "union": {
      const len = n.n || (count ?? 0);
      const at = r.need(len);
      return new Uint8Array(b.subarray(at, at + len));
    }
    case "struct":
      return getStruct(r, STRUCTS[n.ref]!);
    case "array": {
      const len = n.n || (count ?? 0);
      const out: unknown[] = [];
      for (let i = 0; i < len; i++) out.push(get(r, n.of));
      return out;
    }
  }
}
function getStruct(r: Reader, s: Schema): Obj {
  const o: Obj = {};
  for (const [name, n] of s) {
    const count = (n.k === "array" || n.k === "bytes") && n.count ? Number(o[n.count]) : undefined;
    o[name] = get(r, n, count);
  }
  return o;
}

/** Decodes a whole message (header fields included). Throws VppDecodeError on a short message. */
export function decode<T = Obj>(name: string, buf: Buffer): T {
  return getStruct(new Reader(buf, 0, `VPP message ${name}`), schemaOf(name)) as T;
}

/** `name_crc` of a generated message, as VPP's message table spells it. */
export function nameCrc(name: string): string {
  const m = MESSAGES[name];
  if (!m) throw new Error(`no generated schema for VPP message "${name}"`);
  return `${name}_${m.crc}`;
}
