/**
 * vl3Client: a vL3 endpoint connecting to a peer endpoint (upstream
 * `sdk/pkg/networkservice/connectioncontext/ipcontext/vl3` client): our address S goes into
 * src_ip_addrs and routes to S and our prefix P via S into dst_routes, so the peer routes our
 * clients' addresses to us. When our prefix changes, every connection made through here is
 * requested again with the new plan.
 */
import {
  create,
  ConnectionContextSchema,
  ContextRouteSchema,
  IPContextSchema,
  type IPContext,
} from "../../../api/index.js";
import { eventFactory, metaKey, NsmError, status, type ClientElement, type EventFactory } from "../../../core/index.js";
import { contains, network, parsePrefix } from "../../utils/ip.js";
import type { Vl3Pool } from "../../utils/vl3pool.js";

function strip(ip: IPContext, g: string) {
  const net = network(parsePrefix(g));
  const inside = (s: string) => {
    try {
      const p = parsePrefix(s);
      return contains(net, p.v6, p.addr);
    } catch {
      return false;
    }
  };
  ip.srcIpAddrs = ip.srcIpAddrs.filter((x) => !inside(x));
  ip.dstRoutes = ip.dstRoutes.filter((r) => !inside(r.prefix));
}

export function vl3Client(pool: Vl3Pool): ClientElement {
  // one key per element: a dual-stack endpoint chains one per address family
  const LAST = metaKey<string>("vl3/client-prefix");
  const live = new Map<string, EventFactory>();
  pool.subscribe(() => {
    for (const f of live.values()) void f.request().catch(() => undefined);
  });
  return {
    async request(req, ctx, next) {
      if (!pool.ready) throw new NsmError(status.UNAVAILABLE, "prefix pool is initializing");
      const conn = req.connection!;
      conn.context ??= create(ConnectionContextSchema);
      conn.context.ipContext ??= create(IPContextSchema);
      const ip = conn.context.ipContext;
      const last = ctx.clientMeta.get(LAST);
      if (last && last !== pool.prefix) strip(ip, last);
      if (!ip.srcIpAddrs.includes(pool.selfAddr)) ip.srcIpAddrs.push(pool.selfAddr);
      for (const p of [pool.selfAddr, pool.prefix])
        if (!ip.dstRoutes.some((r) => r.prefix === p))
          ip.dstRoutes.push(create(ContextRouteSchema, { prefix: p, nextHop: pool.selfIp }));
      const out = await next.request(req, ctx);
      ctx.clientMeta.set(LAST, pool.prefix);
      const f = eventFactory(ctx, "client");
      if (f) live.set(conn.id, f);
      return out;
    },
    async close(conn, ctx, next) {
      live.delete(conn.id);
      return next.close(conn, ctx);
    },
  };
}
