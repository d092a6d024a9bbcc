/**
 * point2PointIpamServer: each connection gets a pair of host addresses from the first pool with
 * room: the lowest free one for the endpoint (dst), the next for the client (src), plus a route
 * to each other's address (upstream `sdk/pkg/networkservice/ipam/point2pointipam`). Stable across refresh, re-allocated when an address became excluded,
 * recovered from the request after an endpoint restart (or a Close the client did not see), freed
 * on Close. An address is never handed to two connections: a returning connection whose addresses
 * went to another one meanwhile gets a new pair *instead* (its old ones are taken out of the
 * context, so the client and the datapath see the change), and the change is logged.
 * `10.0.0.0/24` with `10.0.0.1/32` excluded → dst 10.0.0.0/32, src 10.0.0.2/32.
 */
import {
  create,
  ContextRouteSchema,
  ConnectionContextSchema,
  IPContextSchema,
  type IPContext,
} from "../../../../api/index.js";
import { metaKey, NsmError, status, type ServerElement } from "../../../../core/index.js";
import { contains, hostPrefix, network, parsePrefix, size, type Prefix } from "../../../utils/ip.js";

interface Pair {
  pool: Pool;
  dst: bigint;
  src: bigint;
}
const PAIR = metaKey<Pair>("point2pointipam/pair");

class Pool {
  private readonly inUse = new Set<bigint>();
  /** every address below `p.addr + low` is in use: the scan for the lowest free one starts there */
  private low = 0n;
  private readonly n: bigint;
  constructor(readonly p: Prefix) {
    this.n = size(p);
  }
  has(v6: boolean, a: bigint) {
    return contains(this.p, v6, a);
  }
  used(a: bigint): boolean {
    return this.inUse.has(a);
  }
  own(a: bigint): void {
    this.inUse.add(a);
    while (this.low < this.n && this.inUse.has(this.p.addr + this.low)) this.low++;
  }
  free(a: bigint): boolean {
    if (!this.inUse.delete(a)) return false;
    const off = a - this.p.addr;
    if (off < this.low) this.low = off;
    return true;
  }
  /** lowest free address not excluded */
  take(excluded: readonly Prefix[], also?: bigint): bigint | undefined {
    for (let i = this.low; i < this.n; i++) {
      const a = this.p.addr + i;
      if (this.inUse.has(a) || a === also || excluded.some((x) => contains(x, this.p.v6, a))) continue;
      return a;
    }
    return undefined;
  }
}

function addUnique(list: string[], v: string) {
  if (!list.includes(v)) list.push(v);
}

function apply(ip: IPContext, pair: Pair) {
  const v6 = pair.pool.p.v6;
  const src = hostPrefix(v6, pair.src),
    dst = hostPrefix(v6, pair.dst);
  addUnique(ip.srcIpAddrs, src);
  addUnique(ip.dstIpAddrs, dst);
  if (!ip.srcRoutes.some((r) => r.prefix === dst)) ip.srcRoutes.push(create(ContextRouteSchema, { prefix: dst }));
  if (!ip.dstRoutes.some((r) => r.prefix === src)) ip.dstRoutes.push(create(ContextRouteSchema, { prefix: src }));
}

/** Takes out of `ip` every address (and route to it) that falls in one of `pools`: claims we could not honour. */
function removeForeign(ip: IPContext, pools: readonly Pool[]): string[] {
  const ours = (s: string) => {
    try {
      const p = parsePrefix(s);
      return pools.some((pool) => pool.has(p.v6, p.addr));
    } catch {
      return false;
    }
  };
  const gone = [...ip.srcIpAddrs, ...ip.dstIpAddrs].filter(ours);
  ip.srcIpAddrs = ip.srcIpAddrs.filter((x) => !ours(x));
  ip.dstIpAddrs = ip.dstIpAddrs.filter((x) => !ours(x));
  ip.srcRoutes = ip.srcRoutes.filter((r) => !ours(r.prefix));
  ip.dstRoutes = ip.dstRoutes.filter((r) => !ours(r.prefix));
  return gone;
}

function remove(ip: IPContext, pair: Pair) {
  const v6 = pair.pool.p.v6;
  const src = hostPrefix(v6, pair.src),
    dst = hostPrefix(v6, pair.dst);
  ip.srcIpAddrs = ip.srcIpAddrs.filter((x) => x !== src);
  ip.dstIpAddrs = ip.dstIpAddrs.filter((x) => x !== dst);
  ip.srcRoutes = ip.srcRoutes.filter((r) => r.prefix !== dst);
  ip.dstRoutes = ip.dstRoutes.filter((r) => r.prefix !== src);
}

export function point2PointIpamServer(prefixes: readonly string[]): ServerElement & { readonly allocated: number } {
  if (!prefixes.length) throw new NsmError(status.INVALID_ARGUMENT, "point2pointipam: required one or more prefixes");
  const pools = prefixes.map((s) => {
    try {
      return new Pool(network(parsePrefix(s)));
    } catch (e) {
      throw new NsmError(status.INVALID_ARGUMENT, `point2pointipam: prefix ${(e as Error).message}`);
    }
  });
  let allocated = 0;
  const free = (pair: Pair) => {
    if (pair.pool.free(pair.dst)) allocated--;
    if (pair.pool.free(pair.src)) allocated--;
  };
  const own = (pool: Pool, a: bigint) => {
    pool.own(a);
    allocated++;
  };

  const recover = (ip: IPContext, excluded: readonly Prefix[]): Pair | undefined => {
    for (const d of ip.dstIpAddrs)
      for (const s of ip.srcIpAddrs) {
        let dp: Prefix, sp: Prefix;
        try {
          dp = parsePrefix(d);
          sp = parsePrefix(s);
        } catch {
          continue;
        }
        const pool = pools.find((p) => p.has(dp.v6, dp.addr) && p.has(sp.v6, sp.addr));
        if (!pool || pool.used(dp.addr) || pool.used(sp.addr) || dp.addr === sp.addr) continue;
        if (excluded.some((x) => contains(x, dp.v6, dp.addr) || contains(x, sp.v6, sp.addr))) continue;
        own(pool, dp.addr);
        own(pool, sp.addr);
        return { pool, dst: dp.addr, src: sp.addr };
      }
    return undefined;
  };

  return {
    get allocated() {
      return allocated;
    },
    async request(req, ctx, next) {
      const conn = req.connection!;
      conn.context ??= create(ConnectionContextSchema);
      conn.context.ipContext ??= create(IPContextSchema);
      const ip = conn.context.ipContext;
      const excluded: Prefix[] = [];
      for (const x of ip.excludedPrefixes) {
        try {
          excluded.push(parsePrefix(x));
        } catch {
          /* ignored as upstream */
        }
      }
      let pair = ctx.meta.get(PAIR);
      if (
        pair &&
        excluded.some((x) => contains(x, pair!.pool.p.v6, pair!.dst) || contains(x, pair!.pool.p.v6, pair!.src))
      ) {
        remove(ip, pair);
        free(pair);
        pair = undefined;
        ctx.meta.delete(PAIR);
      }
      let fresh = false;
      if (!pair) {
        pair = recover(ip, excluded);
        // what the request still claims from our pools is held by another connection (or excluded)
        const lost = pair ? [] : removeForeign(ip, pools);
        if (!pair) {
          for (const pool of pools) {
            const dst = pool.take(excluded);
            const src = dst === undefined ? undefined : pool.take(excluded, dst);
            if (dst === undefined || src === undefined) continue;
            own(pool, dst);
            own(pool, src);
            pair = { pool, dst, src };
            break;
          }
        }
        if (!pair)
          throw new NsmError(
            status.RESOURCE_EXHAUSTED,
            `point2pointipam: no free address pair left in ${prefixes.join(", ")} for connection ${conn.id}`,
          );
        fresh = true;
        ctx.meta.set(PAIR, pair);
        if (lost.length)
          ctx.log.warn(
            {
              connId: conn.id,
              asked: lost,
              got: [hostPrefix(pair.pool.p.v6, pair.src), hostPrefix(pair.pool.p.v6, pair.dst)],
            },
            "point2pointipam: the connection's addresses are in use by another connection (or excluded): new ones given",
          );
      }
      apply(ip, pair);
      try {
        return await next.request(req, ctx);
      } catch (e) {
        if (fresh) {
          free(pair);
          ctx.meta.delete(PAIR);
        }
        throw e;
      }
    },
    async close(conn, ctx, next) {
      const pair = ctx.meta.get(PAIR);
      if (pair) {
        free(pair);
        ctx.meta.delete(PAIR);
      }
      return next.close(conn, ctx);
    },
  };
}
