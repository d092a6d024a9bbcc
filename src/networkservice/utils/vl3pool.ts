/**
 * What a vL3 endpoint knows of its own prefix (upstream `sdk/pkg/networkservice/connectioncontext/ipcontext/vl3`
 * IPAM): with prefix P = 172.16.1.0/24 its own address S is P's first address as a host route
 * (172.16.1.0/32), the global vL3 net G is S with half the bits (172.16.0.0/16), and client
 * addresses are the other hosts of P minus the excluded prefixes. `reset` (a new answer from the
 * IPAM service) starts a new pool and tells the subscribers.
 */
import { formatAddr, parsePrefix, network, type Prefix } from "./ip.js";
import { parseAll, PrefixPool } from "./prefixpool.js";

export class Vl3Pool {
  private pool: PrefixPool | undefined;
  private self: Prefix | undefined;
  private readonly subs = new Set<() => void>();

  /** a new prefix (and excludes) from the IPAM service */
  reset(prefix: string, exclude: readonly string[] = []): void {
    const p = network(parsePrefix(prefix));
    const bits = p.v6 ? 128 : 32;
    this.self = { v6: p.v6, addr: p.addr, len: bits };
    this.pool = new PrefixPool(prefix, [this.self, ...parseAll(exclude)]);
    for (const f of [...this.subs]) f();
  }

  get ready(): boolean {
    return !!this.pool;
  }

  /** P, e.g. 172.16.1.0/24 */
  get prefix(): string {
    const p = this.need().prefix;
    return `${formatAddr(p.v6, p.addr)}/${p.len}`;
  }

  /** S as a host route, e.g. 172.16.1.0/32 */
  get selfAddr(): string {
    this.need();
    return `${formatAddr(this.self!.v6, this.self!.addr)}/${this.self!.len}`;
  }

  /** S's IP, e.g. 172.16.1.0 */
  get selfIp(): string {
    this.need();
    return formatAddr(this.self!.v6, this.self!.addr);
  }

  /** G as upstream writes it: S's IP with half the bits (host bits kept), e.g. 172.16.1.0/16 */
  get globalNet(): string {
    this.need();
    return `${this.selfIp}/${this.self!.v6 ? 64 : 16}`;
  }

  get v6(): boolean {
    return this.need().v6;
  }

  /** the next free host address (/32 or /128), undefined when the prefix is full */
  allocate(): string | undefined {
    return this.need().allocate(this.self!.len);
  }

  /** takes `addr` if it is ours and free (a client keeps its address across our restart) */
  claim(addr: string): boolean {
    return this.need().claim(addr);
  }

  free(addr: string): void {
    this.pool?.release(addr);
  }

  /** `addr` lies in our prefix */
  owns(addr: string): boolean {
    return !!this.pool?.has(addr);
  }

  /** `f` runs after every reset; returns the unsubscribe */
  subscribe(f: () => void): () => void {
    this.subs.add(f);
    return () => this.subs.delete(f);
  }

  private need(): PrefixPool {
    if (!this.pool) throw new Error("prefix pool is initializing");
    return this.pool;
  }
}
