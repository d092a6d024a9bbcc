/** IPv4/IPv6 prefixes as bigints, for IPAM arithmetic. */
import { isIPv4, isIPv6 } from "node:net";

export interface Prefix {
  readonly v6: boolean;
  readonly addr: bigint;
  readonly len: number;
}

const bitsOf = (v6: boolean) => (v6 ? 128 : 32);

export function parseAddr(s: string): { v6: boolean; addr: bigint } {
  if (isIPv4(s)) return { v6: false, addr: s.split(".").reduce((a, o) => (a << 8n) | BigInt(Number(o)), 0n) };
  if (isIPv6(s)) {
    let t = s;
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
    if (v4) {
      const n = parseAddr(v4[1]!).addr;
      t = t.slice(0, -v4[1]!.length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
    }
    const [head, tail] = t.includes("::") ? (t.split("::") as [string, string]) : [t, undefined];
    const h = head ? head.split(":") : [];
    const tl = tail !== undefined && tail !== "" ? tail.split(":") : [];
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - tl.length).fill("0"), ...tl];
    return { v6: true, addr: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g || "0", 16)), 0n) };
  }
  throw new Error(`"${s}" is not an IP address`);
}

export function formatAddr(v6: boolean, a: bigint): string {
  if (!v6) return [24n, 16n, 8n, 0n].map((s) => Number((a >> s) & 255n)).join(".");
  const g = Array.from({ length: 8 }, (_, i) => Number((a >> BigInt(112 - 16 * i)) & 0xffffn));
  let bs = -1,
    bl = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bl && j - i > 1) {
      bs = i;
      bl = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bs < 0) return hex.join(":");
  return `${hex.slice(0, bs).join(":")}::${hex.slice(bs + bl).join(":")}`;
}

/** "10.0.0.5/24" → prefix keeping the host bits; a bare address gets /32 or /128. */
export function parsePrefix(s: string): Prefix {
  const [a, l] = s.trim().split("/") as [string, string | undefined];
  const { v6, addr } = parseAddr(a);
  const len = l === undefined ? bitsOf(v6) : Number(l);
  if (!Number.isInteger(len) || len < 0 || len > bitsOf(v6)) throw new Error(`"${s}" has a bad prefix length`);
  return { v6, addr, len };
}

export function network(p: Prefix): Prefix {
  const host = bitsOf(p.v6) - p.len;
  return { ...p, addr: (p.addr >> BigInt(host)) << BigInt(host) };
}

export function contains(p: Prefix, v6: boolean, a: bigint): boolean {
  if (p.v6 !== v6) return false;
  const host = BigInt(bitsOf(p.v6) - p.len);
  return a >> host === p.addr >> host;
}

export function size(p: Prefix): bigint {
  return 1n << BigInt(bitsOf(p.v6) - p.len);
}

export function hostPrefix(v6: boolean, a: bigint): string {
  return `${formatAddr(v6, a)}/${bitsOf(v6)}`;
}
