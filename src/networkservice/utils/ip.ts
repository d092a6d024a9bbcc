/** IPv4/IPv6 prefixes as bigints, for IPAM arithmetic. */
import { isIPv4, isIPv6 } from "node:net";
import { formatIp, parseIp } from "../../datapath/ip.js";

export interface Prefix {
  readonly v6: boolean;
  readonly addr: bigint;
  readonly len: number;
}

const bitsOf = (v6: boolean) => (v6 ? 128 : 32);

/** An address as a bigint; the text is parsed and printed by datapath/ip (RFC 5952 for IPv6). */
export function parseAddr(s: string): { v6: boolean; addr: bigint } {
  if (!isIPv4(s) && !isIPv6(s)) throw new Error(`"${s}" is not an IP address`);
  const { family, bytes } = parseIp(s.split("%")[0]!); // a zone ("%eth0") is not part of the address
  return { v6: family === 6, addr: bytes.reduce((a, b) => (a << 8n) | BigInt(b), 0n) };
}

export function formatAddr(v6: boolean, a: bigint): string {
  const n = v6 ? 16 : 4;
  return formatIp(Uint8Array.from({ length: n }, (_, i) => Number((a >> BigInt(8 * (n - 1 - i))) & 255n)));
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
