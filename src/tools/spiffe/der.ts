/**
 * Just enough DER (ITU-T X.690) to write X.509 v3 certificates for the built-in issuer and to split
 * the concatenated DER certificates the SPIFFE Workload API sends. node:crypto parses
 * certificates (X509Certificate) but cannot create them, and no certificate library is a
 * dependency.
 */

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
export const seq = (...c: Buffer[]) => tlv(0x30, ...c);
export const set = (...c: Buffer[]) => tlv(0x31, ...c);
export const octets = (b: Buffer) => tlv(0x04, b);
export const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
/** an explicit context tag [n] (constructed) */
export const explicit = (n: number, ...c: Buffer[]) => tlv(0xa0 | n, ...c);

/** a non-negative INTEGER from big-endian bytes */
export function uint(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return tlv(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

export function bitString(b: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.from([unusedBits]), b);
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map(Number);
  const out = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const groups: number[] = [];
    for (let v = p; ; v = Math.floor(v / 128)) {
      groups.unshift(v & 0x7f);
      if (v < 128) break;
    }
    for (let i = 0; i < groups.length - 1; i++) groups[i]! |= 0x80;
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

export const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"));

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 section 4.1.2.5) */
export function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, "").slice(0, 14); // YYYYMMDDHHMMSS
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

/** Splits concatenated DER structures (certificates in a Workload API response). */
export function splitDer(b: Uint8Array): Buffer[] {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const out: Buffer[] = [];
  let at = 0;
  while (at < buf.length) {
    if (at + 2 > buf.length) throw new RangeError(`DER: truncated header at byte ${at} of ${buf.length}`);
    let n = buf[at + 1]!;
    let hdr = 2;
    if (n & 0x80) {
      const k = n & 0x7f;
      if (k === 0 || k > 4 || at + 2 + k > buf.length) throw new RangeError(`DER: bad length at byte ${at}`);
      n = 0;
      for (let i = 0; i < k; i++) n = n * 256 + buf[at + 2 + i]!;
      hdr += k;
    }
    const end = at + hdr + n;
    if (end > buf.length) throw new RangeError(`DER: element at byte ${at} runs past the end (${end} > ${buf.length})`);
    out.push(buf.subarray(at, end));
    at = end;
  }
  return out;
}
