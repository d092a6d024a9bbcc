/**
 * VPP's address types from text: `vl_api_address_t` ({af, un[16]}), `vl_api_prefix_t`, and MACs.
 *
 *   toAddress("10.0.0.1")        // { af: 0, un: [10,0,0,1,0,…] }
 *   toPrefix("fd00::1/128")      // { address: { af: 1, un: […] }, len: 128 }
 */
import { isIPv4, isIPv6 } from "node:net";

export interface VppAddress {
  af: number;
  un: Uint8Array;
}

function v6Bytes(ip: string): Uint8Array {
  const [head, tail] = ip.includes("::") ? (ip.split("::") as [string, string]) : [ip, undefined];
  const hs = head ? head.split(":") : [];
  const ts = tail ? tail.split(":") : [];
  // an embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups
  const expand = (g: string[]) =>
    g.flatMap((x) =>
      x.includes(".")
        ? (([a, b, c, d]) => [((a! << 8) | b!).toString(16), ((c! << 8) | d!).toString(16)])(x.split(".").map(Number))
        : [x],
    );
  const h = expand(hs),
    t = expand(ts);
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g || "0", 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

/** "10.0.0.1" or "fd00::1" (a "/len" suffix is ignored) → vl_api_address_t. */
export function toAddress(ip: string): VppAddress {
  const a = ip.split("/")[0]!;
  const un = new Uint8Array(16);
  if (isIPv4(a)) {
    un.set(a.split(".").map(Number));
    return { af: 0, un };
  }
  if (isIPv6(a)) return { af: 1, un: v6Bytes(a) };
  throw new RangeError(`not an IP address: "${ip}"`);
}

/** "10.0.0.0/24" → vl_api_prefix_t (a bare address is a host prefix). */
export function toPrefix(cidr: string): { address: VppAddress; len: number } {
  const address = toAddress(cidr);
  const l = cidr.split("/")[1];
  return { address, len: l === undefined ? (address.af ? 128 : 32) : Number(l) };
}

/** "02:fe:…" → 6 bytes. */
export function toMac(mac: string): Uint8Array {
  const b = mac.split(":").map((h) => parseInt(h, 16));
  if (b.length !== 6 || b.some((x) => !(x >= 0 && x <= 255))) throw new RangeError(`not a MAC address: "${mac}"`);
  return new Uint8Array(b);
}
