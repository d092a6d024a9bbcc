/** IPv4/IPv6 addresses and CIDRs as bytes, with validation that names the bad value. */
import { isIPv4, isIPv6 } from "node:net";
import { DatapathError } from "./errors.js";

export type Family = 4 | 6;

export interface IpAddr {
  readonly family: Family;
  readonly bytes: Uint8Array;
  /** Canonical text ("10.0.0.1", "fd00::1"). */
  readonly text: string;
}

export interface Cidr extends IpAddr {
  readonly prefixLen: number;
}

function v6bytes(s: string): Uint8Array {
  let text = s;
  const out = new Uint8Array(16);
  // Embedded IPv4 tail ("::ffff:1.2.3.4") becomes two hextets.
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (m) {
    const v4 = m[2]!.split(".").map(Number);
    text = `${m[1]}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? (text.split("::") as [string, string]) : [text, undefined];
  const h = head ? head.split(":") : [];
  const t = tail === undefined ? [] : tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

/** Canonical text of 4 or 16 address bytes (RFC 5952 for IPv6). */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return [...b].join(".");
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  let best = -1,
    bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/** Parses an address; throws DatapathError EINVAL naming `what` and the value. */
export function parseIp(s: string, what = "address"): IpAddr {
  if (typeof s === "string" && isIPv4(s)) {
    const bytes = Uint8Array.from(s.split(".").map(Number));
    return { family: 4, bytes, text: formatIp(bytes) };
  }
  if (typeof s === "string" && isIPv6(s) && !s.includes("%")) {
    const bytes = v6bytes(s);
    return { family: 6, bytes, text: formatIp(bytes) };
  }
  throw DatapathError.invalid(`invalid ${what} ${JSON.stringify(s)}: not an IPv4 or IPv6 address`);
}

/** Parses "addr/len" (the address is kept as given, not masked); a bare address gets /32 or /128. */
export function parseCidr(s: string, what = "CIDR", opts: { requirePrefix?: boolean } = {}): Cidr {
  if (typeof s !== "string") throw DatapathError.invalid(`invalid ${what} ${JSON.stringify(s)}`);
  const slash = s.indexOf("/");
  if (slash < 0 && opts.requirePrefix)
    throw DatapathError.invalid(`invalid ${what} ${JSON.stringify(s)}: missing "/prefix"`);
  let a: IpAddr;
  try {
    a = parseIp(slash < 0 ? s : s.slice(0, slash), what);
  } catch {
    throw DatapathError.invalid(`invalid ${what} ${JSON.stringify(s)}: not an IPv4 or IPv6 address`);
  }
  const max = a.family === 4 ? 32 : 128;
  let prefixLen = max;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) {
      throw DatapathError.invalid(`invalid ${what} ${JSON.stringify(s)}: prefix length must be 0..${max}`);
    }
    prefixLen = Number(p);
  }
  return { ...a, prefixLen };
}

/** The network part of a CIDR (host bits cleared). */
export function maskCidr(c: Cidr): Cidr {
  const bytes = Uint8Array.from(c.bytes);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, c.prefixLen - i * 8));
    bytes[i]! &= keep === 8 ? 0xff : (0xff << (8 - keep)) & 0xff;
  }
  return { family: c.family, bytes, text: formatIp(bytes), prefixLen: c.prefixLen };
}

export const cidrText = (c: Cidr): string => `${c.text}/${c.prefixLen}`;

/** Parses "aa:bb:cc:dd:ee:ff" (case-insensitive, '-' accepted). */
export function parseMac(s: string, what = "MAC"): Uint8Array {
  if (typeof s !== "string" || !/^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i.test(s)) {
    throw DatapathError.invalid(`invalid ${what} ${JSON.stringify(s)}: want aa:bb:cc:dd:ee:ff`);
  }
  return Uint8Array.from(s.split(/[:-]/).map((x) => parseInt(x, 16)));
}
