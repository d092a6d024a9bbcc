/**
 * Prefix-list merging as upstream's exclude-prefixes does it (sdk `pkg/tools/prefixpool`
 * release semantics): each CIDR is normalised to its network (`127.0.0.1/16` → `127.0.0.0/16`),
 * networks inside another listed network are dropped, and two sibling halves of equal length
 * merge into their parent (`10.0.0.0/25` + `10.0.0.128/25` → `10.0.0.0/24`) until nothing
 * changes. IPv4 first, then IPv6, each in address order. Invalid entries are returned apart.
 *
 *   mergePrefixes(["10.0.0.0/25", "10.0.0.128/25", "bad"]) // { prefixes: ["10.0.0.0/24"], invalid: ["bad"] }
 */
import { isIP } from "node:net";

interface Net {
  v6: boolean;
  net: bigint;
  len: number;
}

const bitsOf = (v6: boolean) => (v6 ? 128 : 32);

function parseIp(s: string): { v6: boolean; n: bigint } | undefined {
  const fam = isIP(s);
  if (fam === 4) return { v6: false, n: s.split(".").reduce((a, o) => (a << 8n) | BigInt(Number(o)), 0n) };
  if (fam !== 6) return undefined;
  let t = s.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (v4) {
    const n = parseIp(v4[1]!)!.n;
    t = t.slice(0, -v4[1]!.length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [h, tl] = t.includes("::") ? t.split("::") : [t, undefined];
  const head = h ? h.split(":") : [];
  const tail = tl ? tl.split(":") : [];
  const groups =
    tl === undefined ? head : [...head, ...Array<string>(8 - head.length - tail.length).fill("0"), ...tail];
  return { v6: true, n: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g || "0", 16)), 0n) };
}

/** Parses `addr/len` (host bits cleared); undefined if it is not a CIDR. */
export function parseCidr(s: string): Net | undefined {
  const m = /^([^/\s]+)\/(\d{1,3})$/.exec(s.trim());
  if (!m) return undefined;
  const ip = parseIp(m[1]!);
  const len = Number(m[2]);
  if (!ip || len > bitsOf(ip.v6)) return undefined;
  const bits = bitsOf(ip.v6);
  const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(bits - len);
  return { v6: ip.v6, net: ip.n & mask, len };
}

function format(n: Net): string {
  if (!n.v6) return `${[24n, 16n, 8n, 0n].map((s) => String((n.net >> s) & 255n)).join(".")}/${n.len}`;
  const g: string[] = [];
  for (let i = 7; i >= 0; i--) g.push(((n.net >> BigInt(i * 16)) & 0xffffn).toString(16));
  // the longest run of zero groups (length ≥ 2) becomes "::"
  let best = -1,
    bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === "0") j++;
    if (j - i > bestLen && j - i >= 2) [best, bestLen] = [i, j - i];
    i = j;
  }
  const s = best < 0 ? g.join(":") : `${g.slice(0, best).join(":")}::${g.slice(best + bestLen).join(":")}`;
  return `${s}/${n.len}`;
}

const contains = (a: Net, b: Net) =>
  a.len <= b.len && b.net >> BigInt(bitsOf(a.v6) - a.len) === a.net >> BigInt(bitsOf(a.v6) - a.len);

function mergeFamily(nets: Net[]): Net[] {
  let cur = nets;
  for (;;) {
    cur.sort((a, b) => (a.net < b.net ? -1 : a.net > b.net ? 1 : a.len - b.len));
    const kept: Net[] = [];
    for (const n of cur) if (!kept.length || !contains(kept[kept.length - 1]!, n)) kept.push(n);
    const out: Net[] = [];
    let merged = false;
    for (let i = 0; i < kept.length; i++) {
      const a = kept[i]!,
        b = kept[i + 1];
      const bits = bitsOf(a.v6);
      if (b && a.len === b.len && a.len > 0) {
        const size = 1n << BigInt(bits - a.len);
        if ((a.net & size) === 0n && b.net === a.net + size) {
          out.push({ v6: a.v6, net: a.net, len: a.len - 1 });
          i++;
          merged = true;
          continue;
        }
      }
      out.push(a);
    }
    if (!merged) return out;
    cur = out;
  }
}

export function mergePrefixes(list: Iterable<string>): { prefixes: string[]; invalid: string[] } {
  const v4: Net[] = [],
    v6: Net[] = [],
    invalid: string[] = [];
  for (const s of list) {
    const n = parseCidr(s);
    if (!n) invalid.push(s);
    else (n.v6 ? v6 : v4).push(n);
  }
  return { prefixes: [...mergeFamily(v4), ...mergeFamily(v6)].map(format), invalid };
}
