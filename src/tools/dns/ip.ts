/** Just enough address text handling for reverse names (the tools layer keeps to itself). */
import { isIPv4, isIPv6 } from "node:net";

export function parseAddr(s: string): { v6: boolean; addr: bigint } {
  if (isIPv4(s)) return { v6: false, addr: s.split(".").reduce((a, o) => (a << 8n) | BigInt(Number(o)), 0n) };
  if (isIPv6(s)) {
    const [h, t] = s.includes("::") ? (s.split("::") as [string, string]) : [s, undefined];
    const hs = h ? h.split(":") : [];
    const ts = t ? t.split(":") : [];
    const g = t === undefined ? hs : [...hs, ...Array<string>(8 - hs.length - ts.length).fill("0"), ...ts];
    return { v6: true, addr: g.reduce((a, x) => (a << 16n) | BigInt(parseInt(x || "0", 16)), 0n) };
  }
  throw new Error(`"${s}" is not an IP address`);
}

export function formatAddr(v6: boolean, a: bigint): string {
  if (!v6) return [24n, 16n, 8n, 0n].map((s) => Number((a >> s) & 255n)).join(".");
  return Array.from({ length: 8 }, (_, i) => Number((a >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(":");
}
