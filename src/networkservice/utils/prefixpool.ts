/**
 * A pool of IP prefixes with the blocks already handed out: the lowest free aligned block of a
 * given length (or a wanted one, if it is still free), minus excluded prefixes. The vL3 IPAM
 * service hands out per-endpoint prefixes with it; a vL3 endpoint hands out host addresses (/32,
 * /128) from its own prefix with it.
 *
 *   const p = new PrefixPool("172.16.0.0/16");
 *   p.allocate(24);                      // "172.16.0.0/24"
 *   p.allocate(24, { want: "172.16.5.0/24" }); // "172.16.5.0/24"
 *   p.release("172.16.0.0/24");
 */
import { contains, formatAddr, network, parsePrefix, size, type Prefix } from "./ip.js";

const bitsOf = (v6: boolean) => (v6 ? 128 : 32);
const fmt = (p: Prefix) => `${formatAddr(p.v6, p.addr)}/${p.len}`;

/** Two prefixes share an address: one contains the other's network address. */
export function overlaps(a: Prefix, b: Prefix): boolean {
  return a.v6 === b.v6 && (contains(a, b.v6, b.addr) || contains(b, a.v6, a.addr));
}

/** Parses CIDRs, dropping those that do not parse (as upstream ignores bad excludes). */
export function parseAll(list: readonly string[]): Prefix[] {
  const out: Prefix[] = [];
  for (const s of list) {
    try {
      out.push(network(parsePrefix(s)));
    } catch {
      /* not a prefix: ignored */
    }
  }
  return out;
}

export class PrefixPool {
  readonly prefix: Prefix;
  private readonly used = new Map<string, Prefix>();

  constructor(
    cidr: string,
    /** never handed out (e.g. the endpoint's own address) */
    private readonly excluded: readonly Prefix[] = [],
  ) {
    this.prefix = network(parsePrefix(cidr));
  }

  get v6(): boolean {
    return this.prefix.v6;
  }

  /** the allocated prefixes */
  get allocated(): string[] {
    return [...this.used.keys()];
  }

  /** `cidr` lies inside the pool */
  has(cidr: string): boolean {
    try {
      const p = parsePrefix(cidr);
      return contains(this.prefix, p.v6, p.addr) && p.len >= this.prefix.len;
    } catch {
      return false;
    }
  }

  private free(p: Prefix, exclude: readonly Prefix[]): boolean {
    if (!contains(this.prefix, p.v6, p.addr) || p.len < this.prefix.len) return false;
    for (const u of this.used.values()) if (overlaps(u, p)) return false;
    for (const x of [...this.excluded, ...exclude]) if (overlaps(x, p)) return false;
    return true;
  }

  /**
   * A block of length `len`: `want` if it lies in the pool and is free, else the lowest free
   * aligned block; undefined when none is left.
   */
  allocate(len: number, o: { want?: string; exclude?: readonly Prefix[] } = {}): string | undefined {
    const exclude = o.exclude ?? [];
    if (o.want) {
      const w = parseAll([o.want])[0];
      if (w && this.free(w, exclude)) {
        this.used.set(fmt(w), w);
        return fmt(w);
      }
    }
    if (len < this.prefix.len || len > bitsOf(this.v6)) return undefined;
    const step = 1n << BigInt(bitsOf(this.v6) - len);
    const n = size(this.prefix) / step;
    for (let i = 0n; i < n; i++) {
      const p: Prefix = { v6: this.v6, addr: this.prefix.addr + i * step, len };
      if (!this.free(p, exclude)) continue;
      this.used.set(fmt(p), p);
      return fmt(p);
    }
    return undefined;
  }

  /** gives `cidr` back; false if it was not allocated */
  release(cidr: string): boolean {
    const p = parseAll([cidr])[0];
    return !!p && this.used.delete(fmt(p));
  }

  /** takes `cidr` as allocated if it is free (an address a client brings back) */
  claim(cidr: string): boolean {
    const p = parseAll([cidr])[0];
    if (!p || !this.free(p, [])) return false;
    this.used.set(fmt(p), p);
    return true;
  }
}
