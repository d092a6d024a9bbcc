/**
 * vl3Server: the address plan of a vL3 endpoint for the clients and peer endpoints that connect
 * to it (upstream `sdk/pkg/networkservice/connectioncontext/ipcontext/vl3` server, with
 * `strictvl3ipam` in front). With our prefix 172.16.1.0/24 a client gets 172.16.1.1/32 (then .2,
 * ...) and src routes to 172.16.1.0/32, 172.16.1.0/24 and, after the rest of the chain,
 * 172.16.1.0/16 via 172.16.1.0; our side gets dst 172.16.1.0/32 and a route to the client.
 * A peer endpoint brings its own address and DNS config: it gets nothing allocated. A request
 * whose dst addresses are not ours (a client healing from another endpoint) starts afresh.
 * One element per prefix (address family), as upstream chains one per IPAM service.
 *
 * When our prefix changes, a client gets a new address on its next Request and a peer keeps its
 * own but loses our old address and routes; ours: every connection made through here is asked at
 * once to request again (the monitor's REFRESH_REQUESTED; upstream waits for the next refresh).
 * Chain it after the monitor server.
 */
import {
  create,
  ConnectionContextSchema,
  ContextRouteSchema,
  IPContextSchema,
  type IPContext,
} from "../../../api/index.js";
import { metaKey, NsmError, status, type ServerElement } from "../../../core/index.js";
import { contains, network, parsePrefix } from "../../utils/ip.js";
import { MONITOR_EVENTS, type MonitorEventSender } from "../../utils/keys.js";
import type { Vl3Pool } from "../../utils/vl3pool.js";

interface Held {
  /** the prefix the address came from */
  prefix: string;
  addr: string;
}

/** what we put into a connection as ours: gone from it when our prefix changes */
interface Served {
  prefix: string;
  self: string;
  global: string;
}

const family = (s: string) => {
  try {
    return parsePrefix(s).v6;
  } catch {
    return undefined;
  }
};

function addRoute(list: IPContext["srcRoutes"], prefix: string, nextHop = "") {
  if (!list.some((r) => r.prefix === prefix && r.nextHop === nextHop))
    list.push(create(ContextRouteSchema, { prefix, nextHop }));
}

/** Takes out of `ip` every address and route inside the global net `g` (its host bits ignored). */
function stripInside(ip: IPContext, g: string) {
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
  ip.dstIpAddrs = ip.dstIpAddrs.filter((x) => !inside(x));
  ip.srcRoutes = ip.srcRoutes.filter((r) => !inside(r.prefix));
  ip.dstRoutes = ip.dstRoutes.filter((r) => !inside(r.prefix));
}

/** Takes our old address and routes (`was`) out of `ip`; a peer's own address and routes stay. */
function forget(ip: IPContext, was: Served) {
  const ours = new Set([was.self, was.prefix, was.global]);
  ip.dstIpAddrs = ip.dstIpAddrs.filter((a) => a !== was.self);
  ip.srcRoutes = ip.srcRoutes.filter((r) => !ours.has(r.prefix));
}

export function vl3Server(pool: Vl3Pool): ServerElement {
  // one key per element: a dual-stack endpoint chains one per address family
  const HELD = metaKey<Held>("vl3/address");
  const SERVED = metaKey<Served>("vl3/served");
  /** connections made through here, asked to request again when our prefix changes */
  const live = new Set<string>();
  let sender: MonitorEventSender | undefined;
  pool.subscribe(() => {
    for (const id of live) sender?.refreshRequested(id);
  });
  return {
    async request(req, ctx, next) {
      if (!pool.ready) throw new NsmError(status.UNAVAILABLE, "prefix pool is initializing");
      sender ??= ctx.get(MONITOR_EVENTS);
      const conn = req.connection!;
      conn.context ??= create(ConnectionContextSchema);
      const served = ctx.meta.get(SERVED);
      if (served && served.prefix !== pool.prefix && conn.context.ipContext) forget(conn.context.ipContext, served);
      // strict: a request that names another endpoint's address (of our family) as ours starts afresh
      if (conn.context.ipContext?.dstIpAddrs.some((a) => family(a) === pool.v6 && !pool.owns(a)))
        conn.context.ipContext = create(IPContextSchema, {
          excludedPrefixes: conn.context.ipContext.excludedPrefixes,
        });
      conn.context.ipContext ??= create(IPContextSchema);
      const ip = conn.context.ipContext;
      let held = ctx.meta.get(HELD);
      let fresh = false;
      if (held && held.prefix !== pool.prefix) {
        // our prefix changed: a new address, nothing left of the old plan
        stripInside(ip, pool.globalNet);
        stripInside(ip, held.addr);
        held = undefined;
        ctx.meta.delete(HELD);
      }
      const dns = conn.context.dnsContext?.configs.length ?? 0;
      const sameFamily = ip.srcIpAddrs.filter((a) => family(a) === pool.v6);
      if (held) {
        if (!ip.srcIpAddrs.includes(held.addr)) ip.srcIpAddrs.push(held.addr);
      } else if (!dns || !sameFamily.length) {
        // a client (a peer endpoint carries its own address and DNS config)
        const back = sameFamily.find((a) => pool.owns(a) && pool.claim(a));
        const addr = back ?? pool.allocate();
        if (!addr)
          throw new NsmError(status.RESOURCE_EXHAUSTED, `vl3: no free address left in ${pool.prefix} for ${conn.id}`);
        held = { prefix: pool.prefix, addr };
        fresh = true;
        ctx.meta.set(HELD, held);
        if (!ip.srcIpAddrs.includes(addr)) ip.srcIpAddrs.push(addr);
      }
      addRoute(ip.srcRoutes, pool.selfAddr, pool.selfIp);
      addRoute(ip.srcRoutes, pool.prefix, pool.selfIp);
      for (const a of ip.srcIpAddrs) addRoute(ip.dstRoutes, a);
      if (!ip.dstIpAddrs.includes(pool.selfAddr)) ip.dstIpAddrs.push(pool.selfAddr);
      let out;
      try {
        out = await next.request(req, ctx);
      } catch (e) {
        if (fresh) {
          pool.free(held!.addr);
          ctx.meta.delete(HELD);
        }
        throw e;
      }
      const oip = (out.context ??= create(ConnectionContextSchema)).ipContext ?? create(IPContextSchema);
      out.context.ipContext = oip;
      addRoute(oip.srcRoutes, pool.globalNet, pool.selfIp);
      ctx.meta.set(SERVED, { prefix: pool.prefix, self: pool.selfAddr, global: pool.globalNet });
      live.add(conn.id);
      return out;
    },
    async close(conn, ctx, next) {
      live.delete(conn.id);
      ctx.meta.delete(SERVED);
      const held = ctx.meta.get(HELD);
      if (held) {
        if (held.prefix === (pool.ready ? pool.prefix : "")) pool.free(held.addr);
        ctx.meta.delete(HELD);
      }
      return next.close(conn, ctx);
    },
  };
}
